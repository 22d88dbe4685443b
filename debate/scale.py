"""Scale-out on Ray: units are sharded over worker actors, records stream back to the driver.

Each actor holds its own engine: its own model replicas for `local`/`hf/` models (with
`--gpus-per-worker`, one replica per GPU) or its own connection pool for `openai/` models,
and runs units with the normal async engine, `concurrency` at a time. The driver process
dispatches units, keeps at most `concurrency` in flight per actor, and is the run store's
single writer, so resume, dedup and fsync semantics are those of a local run. When an
actor dies, its in-flight units are put back in the queue and a replacement actor is
started (a dead worker's results are lost, so each unit is written once).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from debate.core.costs import Budget, CostMeter
from debate.core.declarations import Bundle
from debate.core.engine import Engine, ModelBindings, UnitPlan
from debate.core.events import Subscriber
from debate.core.store import RunStore
from debate.errors import DebateInputError

ACTOR_PREFIX = "debate-worker-"
NAMESPACE = "debate-lab"


@dataclass
class RaySettings:
    address: str | None = None
    workers: int | None = None
    gpus_per_worker: float = 0.0
    concurrency: int = 32
    bindings: dict[str, str] = field(default_factory=dict)
    base_urls: dict[str, str] = field(default_factory=dict)
    model_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    default_model: str = "local"
    model_options: dict[str, Any] = field(default_factory=dict)
    cache_dir: str | None = None
    max_restarts: int = 8


@dataclass
class RayOutcome:
    engine: Engine  # the driver-side engine: records and failures of this run
    worker_restarts: int


class UnitWorker:
    """One worker: an engine with its own models. Wrapped as a Ray actor by `run_on_ray`."""

    def __init__(self, bundle: Bundle, settings: RaySettings) -> None:
        wrap = None
        if settings.cache_dir is not None:
            from debate.models.cache import CachedModel

            directory = Path(settings.cache_dir)

            def wrap(model: Any) -> Any:
                return CachedModel(model, directory)

        bindings = ModelBindings(
            settings.bindings,
            default=settings.default_model,
            base_urls=settings.base_urls,
            options=settings.model_options,
            wrap=wrap,
            request_fields=settings.model_args,
        )
        self.engine = Engine(bundle, bindings, concurrency=settings.concurrency)

    async def run(self, plan: UnitPlan) -> tuple[bool, dict[str, Any]]:
        return await self.engine.run_one(plan)

    def pid(self) -> int:
        return os.getpid()


def _emit_record_events(engine: Engine, ok: bool, outcome: dict[str, Any]) -> None:
    """Replay a remote unit's turns and verdicts to the driver's subscribers, then accept it."""
    if ok and engine.subscribers:
        from debate.core.events import UnitFinished
        from debate.live.watch import record_events

        for _pause, event in record_events(outcome):
            if not isinstance(event, UnitFinished):
                engine.emit(event)
    engine.accept(ok, outcome)


def _init_ray(address: str | None) -> Any:
    import ray

    if not ray.is_initialized():
        options: dict[str, Any] = {
            "namespace": NAMESPACE,
            "include_dashboard": False,
            "log_to_driver": False,
            "ignore_reinit_error": True,
        }
        if address:
            options["address"] = address
        ray.init(**options)
    return ray


def run_on_ray(
    bundle: Bundle,
    plans: Iterable[UnitPlan],
    settings: RaySettings,
    store: RunStore | None,
    subscribers: list[Subscriber],
    *,
    budget: Budget | None = None,
    meter: CostMeter | None = None,
) -> RayOutcome:
    """Run `plans` on Ray actors: the records and failures, and how many workers died.

    Plans are taken from `plans` only as actors have room for them, so the driver holds
    the units in flight, not the run; with a store, records are dropped once written."""
    ray = _init_ray(settings.address)
    from ray.exceptions import ActorDiedError, RayActorError, RayTaskError

    gpus = settings.gpus_per_worker
    resources = ray.cluster_resources()
    if settings.workers is not None:
        count = settings.workers
    elif gpus > 0:
        count = max(1, int(resources.get("GPU", 0) // gpus))
    else:
        count = max(1, int(resources.get("CPU", 1)))
    actor_class = ray.remote(UnitWorker)
    actor_options = {
        "num_cpus": 1 if gpus == 0 else 0,
        "num_gpus": gpus,
        "max_concurrency": max(1, settings.concurrency),
    }
    driver = Engine(
        bundle,
        ModelBindings({}),
        store=store,
        subscribers=subscribers,
        budget=budget,
        meter=meter,
        keep_records=store is None,  # with a store, records are dropped once written
    )
    skip = store.done if store is not None else set()
    fresh = (plan for plan in plans if plan.id not in skip)
    retry: deque[UnitPlan] = deque()  # units of workers that died, to run elsewhere
    gated = budget is not None and budget.active
    actors: dict[int, Any] = {}
    load: dict[int, int] = {}
    inflight: dict[Any, tuple[int, UnitPlan]] = {}
    restarts = 0
    serial = 0

    def start_actor() -> None:
        nonlocal serial
        options = {**actor_options, "name": f"{ACTOR_PREFIX}{serial}"}
        handle = actor_class.options(**options).remote(bundle, settings)
        actors[serial] = handle
        load[serial] = 0
        serial += 1

    for _ in range(count):
        start_actor()
    ray.get([handle.pid.remote() for handle in actors.values()])  # wait until they are up

    def next_plan() -> UnitPlan | None:
        if retry:
            return retry.popleft()  # admitted once already
        if gated:
            assert budget is not None
            allowed = budget.decide(len(inflight))
            if allowed is None:
                return None  # wait for a unit to finish
            if not allowed:
                if driver.stop_reason != "budget" and next(fresh, None) is not None:
                    driver.stop_reason = "budget"
                return None
        return next(fresh, None)

    def dispatch() -> None:
        for index in sorted(actors):
            while load[index] < settings.concurrency:
                plan = next_plan()
                if plan is None:
                    return
                inflight[actors[index].run.remote(plan)] = (index, plan)
                load[index] += 1

    try:
        dispatch()
        while inflight:
            ray.wait(list(inflight), num_returns=1)
            ready, _ = ray.wait(list(inflight), num_returns=len(inflight), timeout=0)
            for ref in ready:
                index, plan = inflight.pop(ref)
                load[index] = max(0, load.get(index, 1) - 1)
                try:
                    ok, outcome = ray.get(ref)
                except (RayActorError, ActorDiedError):
                    retry.append(plan)  # the worker died with the unit: its result is lost
                    if index in actors:
                        del actors[index]
                        del load[index]
                        if restarts >= settings.max_restarts:
                            raise DebateInputError(
                                f"--executor ray: {restarts} workers died; giving up "
                                "(resume to run the units left)"
                            ) from None
                        restarts += 1
                        start_actor()
                    continue
                except RayTaskError as exc:
                    cause = exc.cause if hasattr(exc, "cause") else None
                    if isinstance(cause, DebateInputError):
                        raise cause from None
                    raise
                _emit_record_events(driver, ok, outcome)
            dispatch()
    finally:
        for handle in actors.values():
            ray.kill(handle, no_restart=True)
    return RayOutcome(driver, restarts)
