"""The async runner: scenarios × protocol (× swap × variants × repeats) as units.

The engine plans units, binds models to roles, runs each unit's steps under a
concurrency limit, emits events, and hands finished records to the run store.
It is seeded: a unit's seed derives from the run seed and the unit id, and every
model call within a unit gets the next seed of that unit, so a rerun with a
deterministic model reproduces every transcript.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Iterable, Iterator, Sized
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from debate.core.bindings import ModelBindings
from debate.core.context import BoundRole, UnitContext, display_name
from debate.core.costs import Budget, CostMeter
from debate.core.declarations import Bundle
from debate.core.events import Event, Subscriber, UnitFailed, UnitFinished, UnitStarted
from debate.core.panels import panel_seats
from debate.core.planning import UnitPlan, iter_plans, plan_units
from debate.core.sent import compact_calls, link_verdicts
from debate.core.steps import count_rounds, run_steps
from debate.core.store import RunStore
from debate.errors import DebateInputError
from debate.models import request_tag

__all__ = [
    "Engine",
    "ModelBindings",
    "UnitPlan",
    "build_record",
    "fewer_young_collections",
    "iter_plans",
    "plan_units",
]


@contextlib.contextmanager
def fewer_young_collections(threshold: int = 100_000) -> Iterator[None]:
    """Raise the cyclic GC's young-generation threshold while units run.

    A turn allocates a few hundred short-lived containers (dicts, coroutines, chat
    messages); at Python's default threshold (700) the collector runs every couple of
    turns and, with records accumulating, costs a tenth or more of the engine's time.
    Reference counting still frees almost everything at once; cycles wait a little
    longer. The previous thresholds are restored afterwards.
    """
    before = gc.get_threshold()
    if before[0] == 0 or before[0] >= threshold:  # disabled, or already raised by the user
        yield
        return
    gc.set_threshold(threshold, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


@dataclass
class Engine:
    """Runs units of one protocol; emits events; writes records to an optional store."""

    bundle: Bundle
    bindings: ModelBindings
    store: RunStore | None = None
    concurrency: int = 32
    subscribers: list[Subscriber] = field(default_factory=list)
    # emit TextDelta events as text arrives: model calls then stream, which only the
    # live view needs (a server streams more slowly than it answers a plain request)
    stream_text: bool = False
    # which calls' exact messages each record keeps: "verdicts" (every judge verdict) or "all"
    store_prompts: str = "verdicts"
    # `--max-cost` / `--max-tokens`: asked before each unit starts
    budget: Budget | None = None
    # running token and dollar totals (the progress bar shows them; a budget reads its own)
    meter: CostMeter | None = None
    # keep every record and failure in `records`/`failures`; a long run with a store
    # turns this off, so a record is dropped once written and memory stays bounded
    keep_records: bool = True
    records: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = "completed"
    """`completed`, or `budget` when the budget left units unscheduled."""
    _roles: dict[str, BoundRole] | None = field(default=None, repr=False)
    _in_flight: int = field(default=0, repr=False)
    _changed: asyncio.Condition | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.meter is None and self.budget is not None:
            self.meter = self.budget.meter

    def emit(self, event: Event) -> None:
        for subscriber in self.subscribers:
            subscriber(event)

    def bind_roles(self) -> dict[str, BoundRole]:
        roles: dict[str, BoundRole] = {}
        for name, declared in self.bundle.protocol.roles.items():
            spec = self.bundle.role_spec(name)
            model = self.bindings.model_for(name, spec.name)
            roles[name] = BoundRole(
                name=name,
                speaker=declared.name or display_name(name),
                spec=spec,
                model=model,
                params=declared.params,
                seats=panel_seats(
                    spec,
                    self.bundle.judges,
                    model,
                    partial(self.bindings.model_named, role=name, declared=spec.name),
                ),
            )
        return roles

    def run_to_end(self, plans: Iterable[UnitPlan]) -> list[dict[str, Any]]:
        """`run` on a fresh event loop, then close the bound models' clients (the whole
        life of an engine in a command or script)."""

        async def run_and_close() -> list[dict[str, Any]]:
            try:
                return await self.run(plans)
            finally:
                await self.bindings.aclose()

        return asyncio.run(run_and_close())

    async def run(self, plans: Iterable[UnitPlan]) -> list[dict[str, Any]]:
        """Run every plan not already in the store, taking plans from `plans` only as
        units start; returns the records kept (see `keep_records`)."""
        roles = self.bind_roles()
        total_rounds = count_rounds(self.bundle.steps)
        done = self.store.done if self.store is not None else set()
        pending = (plan for plan in plans if plan.id not in done)
        gated = self.budget is not None and self.budget.active

        async def worker() -> None:
            if not gated:
                for plan in pending:
                    await self.run_unit(plan, roles, total_rounds)
                return
            while (admitted := await self._admit(pending)) is not None:
                self._in_flight += 1
                try:
                    await self.run_unit(admitted, roles, total_rounds)
                finally:
                    self._in_flight -= 1
                    assert self._changed is not None
                    async with self._changed:
                        self._changed.notify_all()

        if gated:
            self._changed = asyncio.Condition()
        width = self.concurrency
        if isinstance(plans, Sized):
            width = min(width, len(plans))
        workers = [asyncio.create_task(worker()) for _ in range(max(1, width))]
        try:
            with fewer_young_collections():
                await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
        return self.records

    async def _admit(self, pending: Iterator[UnitPlan]) -> UnitPlan | None:
        """The next plan, when the budget allows another unit to start; None to stop."""
        assert self.budget is not None and self._changed is not None
        budget = self.budget
        async with self._changed:
            while (allowed := budget.decide(self._in_flight)) is None:
                await self._changed.wait()
        if allowed:
            return next(pending, None)
        if self.stop_reason != "budget" and next(pending, None) is not None:
            self.stop_reason = "budget"  # units were left: the budget ended the run
        return None

    async def run_unit(
        self, plan: UnitPlan, roles: dict[str, BoundRole], total_rounds: int
    ) -> None:
        """Execute one unit and hand its outcome to the store, the lists and subscribers."""
        ok, outcome = await self.execute_unit(plan, roles, total_rounds)
        self.accept(ok, outcome)

    def accept(self, ok: bool, outcome: dict[str, Any]) -> None:
        """Take a finished unit's record (ok) or failure, wherever it ran."""
        if self.meter is not None:
            self.meter.add(outcome)
        if ok:
            if self.store is not None:
                self.store.append(outcome)
            if self.keep_records:
                self.records.append(outcome)
            self.emit(UnitFinished(outcome["id"], outcome))
        else:
            if self.keep_records:
                self.failures.append(outcome)
            if self.store is not None:
                self.store.append_failure(outcome)
            self.emit(UnitFailed(outcome["id"], outcome["error"]))

    async def run_one(self, plan: UnitPlan) -> tuple[bool, dict[str, Any]]:
        """Execute one unit without storing it: (True, record) or (False, failure)."""
        if self._roles is None:
            self._roles = self.bind_roles()
        return await self.execute_unit(plan, self._roles, count_rounds(self.bundle.steps))

    async def execute_unit(
        self, plan: UnitPlan, roles: dict[str, BoundRole], total_rounds: int
    ) -> tuple[bool, dict[str, Any]]:
        scenario = plan.scenario
        ctx = UnitContext(
            unit_id=plan.id,
            bundle=self.bundle,
            scenario=scenario,
            roles=roles,
            seed=plan.seed,
            emit=self.emit,
            listening=bool(self.subscribers),
            streaming=self.stream_text and bool(self.subscribers),
            total_rounds=total_rounds,
            epoch=plan.repeat,
            variant=plan.variant,
            defends=dict(plan.defends),
            store_prompts=self.store_prompts,
        )
        self.emit(
            UnitStarted(
                plan.id,
                self.bundle.protocol.name,
                scenario.question,
                tuple(scenario.answers),
                tuple(roles),
                total_rounds,
            )
        )
        started = time.perf_counter()
        request_tag.set(plan.id)  # lets a backend that asks a person group requests by unit
        try:
            await run_steps(self.bundle.steps, ctx)
            verdict_role = self.bundle.protocol.verdict
            if verdict_role is not None:
                from debate.core.judges import elicit_verdict

                await elicit_verdict(ctx, verdict_role, final=True)
        except DebateInputError:
            raise
        except Exception as exc:  # a unit that fails is recorded, never dropped
            return False, {
                "id": plan.id,
                "scenario_id": scenario.id,
                "error": f"{type(exc).__name__}: {exc}",
                "rounds_done": ctx.round,
                "time": time.time(),
                # what the unit spent before failing counts towards budgets and costs
                "models": {name: bound.model.name for name, bound in ctx.roles.items()},
                "usage": ctx.usage,
            }
        return True, build_record(plan, ctx, time.perf_counter() - started)


def build_record(plan: UnitPlan, ctx: UnitContext, wall_s: float) -> dict[str, Any]:
    scenario = plan.scenario
    final_at = next(
        (i for i in range(len(ctx.verdicts) - 1, -1, -1) if ctx.verdicts[i].final), None
    )
    final = ctx.verdicts[final_at] if final_at is not None else None
    verdicts = [v.to_record() for v in ctx.verdicts]
    if len(ctx.verdict_calls) == len(verdicts):
        link_verdicts(verdicts, ctx.verdict_calls, ctx.sent)
    correct: bool | None = None
    if final is not None and scenario.correct_index is not None:
        # the judge's top choice, so it also holds for more than two answers; ties count wrong
        correct = bool(final.valid and final.chosen == scenario.correct_index)
    if final is None and isinstance(ctx.state.get("final_answer"), dict):
        # answer-improving protocols (vote, settle) decide without a judge verdict
        correct = bool(ctx.state["final_answer"].get("correct"))
    return {
        "id": plan.id,
        "protocol": ctx.bundle.protocol.name,
        "scenario_id": scenario.id,
        "source": scenario.source,
        "swap": plan.swap,
        "variant": plan.variant,
        "repeat": plan.repeat,
        "seed": plan.seed,
        "question": scenario.question,
        "answers": scenario.answers,
        "correct_index": scenario.correct_index,
        "defends": ctx.defends,
        "messages": [m.to_record() for m in ctx.messages],
        "verdicts": verdicts,
        "final_verdict": dict(verdicts[final_at]) if final_at is not None else None,
        "correct": correct,
        "stop_reason": ctx.stop_reason or "completed",
        "rounds": ctx.round,
        "state": ctx.state,
        "models": {name: bound.model.name for name, bound in ctx.roles.items()},
        "usage": ctx.usage,
        "prompts": compact_calls(ctx.sent),
        "timing": {"wall_s": round(wall_s, 4)},
    }
