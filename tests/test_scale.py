"""The Ray executor on a real local Ray cluster (2 worker processes on this machine)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed")

from debate.core.engine import Engine, ModelBindings, plan_units  # noqa: E402
from debate.core.events import Event, UnitFinished  # noqa: E402
from debate.core.loading import load_protocol  # noqa: E402
from debate.core.scenarios import load_scenarios  # noqa: E402
from debate.core.store import RunStore, read_jsonl  # noqa: E402
from debate.scale import ACTOR_PREFIX, RaySettings, run_on_ray  # noqa: E402


@pytest.fixture(scope="module")
def cluster() -> Any:
    ray.init(num_cpus=2, namespace="debate-lab", include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def without_timing(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        ({k: v for k, v in r.items() if k != "timing"} for r in records), key=lambda r: r["id"]
    )


def test_ray_records_equal_local_records(cluster: Any, tmp_path: Path) -> None:
    import asyncio

    bundle = load_protocol("debate")
    plans = plan_units(bundle, load_scenarios("truthfulqa-sample", limit=6, seed=4), seed=4)
    local = Engine(bundle, ModelBindings({}, default="scripted"))
    asyncio.run(local.run(plans))

    store = RunStore(tmp_path / "ray")
    settings = RaySettings(workers=2, concurrency=4, default_model="scripted")
    outcome = run_on_ray(bundle, plans, settings, store, [])
    store.close()
    stored = list(read_jsonl(tmp_path / "ray" / "transcripts.jsonl"))
    assert len(stored) == len(plans) == 12 and not outcome.engine.failures
    assert without_timing(stored) == without_timing(local.records)


def test_killing_a_worker_mid_run_keeps_each_unit_exactly_once(
    cluster: Any, tmp_path: Path
) -> None:
    bundle = load_protocol("debate")
    plans = plan_units(bundle, load_scenarios("truthfulqa-sample", limit=20), seed=1)
    finished = 0
    killed = threading.Event()

    def kill_one_worker(event: Event) -> None:
        nonlocal finished
        if isinstance(event, UnitFinished):
            finished += 1
            if finished == 5 and not killed.is_set():
                ray.kill(ray.get_actor(f"{ACTOR_PREFIX}0"), no_restart=True)
                killed.set()

    store = RunStore(tmp_path / "ray")
    settings = RaySettings(workers=2, concurrency=3, default_model="scripted/latency-20")
    outcome = run_on_ray(bundle, plans, settings, store, [kill_one_worker])
    store.close()
    assert killed.is_set() and outcome.worker_restarts >= 1
    ids = [record["id"] for record in read_jsonl(tmp_path / "ray" / "transcripts.jsonl")]
    assert len(ids) == len(set(ids)) == len(plans) == 40
    assert set(ids) == {plan.id for plan in plans}


def test_a_budget_stops_dispatch_on_ray_and_the_driver_keeps_no_records(
    cluster: Any, tmp_path: Path
) -> None:
    from debate.core.costs import Budget, CostMeter

    bundle = load_protocol("debate")
    plans = plan_units(bundle, load_scenarios("truthfulqa-sample", limit=20), seed=2)
    store = RunStore(tmp_path / "capped")
    meter = CostMeter()
    settings = RaySettings(workers=2, concurrency=2, default_model="scripted/latency-5")
    outcome = run_on_ray(
        bundle, iter(plans), settings, store, [], budget=Budget(meter, max_tokens=15_000)
    )
    store.close()
    stored = list(read_jsonl(tmp_path / "capped" / "transcripts.jsonl"))
    assert outcome.engine.stop_reason == "budget"
    assert 0 < len(stored) < len(plans) and outcome.engine.records == []
    spent = sum(
        c["prompt_tokens"] + c["completion_tokens"] for r in stored for c in r["usage"].values()
    )
    assert meter.tokens == spent and spent <= 15_000 + 4 * spent / len(stored)
