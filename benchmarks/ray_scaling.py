"""Ray scale-out overhead: the same units on the local executor and on 2 Ray workers.

Workload: 400 debates of the shipped `debate` protocol (no swap) with the `scripted`
backend answering after a simulated 50 ms model latency (`scripted/latency-50`); each unit
waits on 6 dependent model calls. The local executor runs 8 units at a time; each of the 2
Ray workers also runs 8 at a time. The ideal Ray wall time is the local one divided by the
number of workers; `overhead_ratio` = ray_wall_s / ideal. Ray's start-up (`ray.init`) is not
timed; starting the worker actors and streaming every record back to the driver is.

Prints one JSON object: {"units", "workers", "local_wall_s", "ray_wall_s", "overhead_ratio"}.
Run from the repository root: python benchmarks/ray_scaling.py
"""

from __future__ import annotations

import asyncio
import json
import time

import ray

from debate.core.engine import Engine, ModelBindings, plan_units
from debate.core.loading import load_protocol
from debate.core.scenarios import Scenario
from debate.scale import RaySettings, run_on_ray

UNITS = 400
WORKERS = 2
PER_WORKER = 8
MODEL = "scripted/latency-50"


def main() -> None:
    bundle = load_protocol("debate")
    scenarios = [
        Scenario(id=f"q{i}", question=f"Question {i}?", answers=["yes", "no"], correct_index=i % 2)
        for i in range(UNITS)
    ]
    plans = plan_units(bundle, scenarios, seed=0, swap=False)

    local = Engine(bundle, ModelBindings({}, default=MODEL), concurrency=PER_WORKER)
    started = time.perf_counter()
    asyncio.run(local.run(plans))
    local_wall = time.perf_counter() - started
    assert len(local.records) == UNITS

    ray.init(num_cpus=WORKERS, include_dashboard=False, log_to_driver=False)
    try:
        settings = RaySettings(workers=WORKERS, concurrency=PER_WORKER, default_model=MODEL)
        started = time.perf_counter()
        outcome = run_on_ray(bundle, plans, settings, None, [])
        ray_wall = time.perf_counter() - started
    finally:
        ray.shutdown()
    assert len(outcome.engine.records) == UNITS and not outcome.engine.failures

    ideal = local_wall / WORKERS
    print(
        json.dumps(
            {
                "units": UNITS,
                "workers": WORKERS,
                "local_wall_s": round(local_wall, 3),
                "ray_wall_s": round(ray_wall, 3),
                "overhead_ratio": round(ray_wall / ideal, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
