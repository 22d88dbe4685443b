"""Engine overhead: how many turns per second the engine itself sustains.

Workload: 2,000 debates of the shipped `debate` protocol (3 rounds, 2 debaters, a final
verdict: 7 model calls each) with the deterministic `scripted` backend, which answers
instantly, so the time measured is the engine's: planning, rendering prompts and views,
quote checks, verdict parsing, events and records. Records are kept in memory (the run
store's per-record fsync measures the disk, not the engine).

Prints one JSON object: {"turns", "wall_s", "turns_per_s"}. Target: turns_per_s >= 20,000.
Run from the repository root: python benchmarks/engine_overhead.py
"""

from __future__ import annotations

import asyncio
import json
import time

from debate.engine import Engine, ModelBindings, plan_units
from debate.scenario import Scenario
from debate.spec import load_protocol

DEBATES = 2000


def workload() -> list[Scenario]:
    return [
        Scenario(
            id=f"q{i}",
            question=f"Which of the two answers to question {i} is correct?",
            answers=[f"answer one of {i}", f"answer two of {i}"],
            correct_index=i % 2,
        )
        for i in range(DEBATES)
    ]


def main() -> None:
    bundle = load_protocol("debate")
    plans = plan_units(bundle, workload(), seed=0, swap=False)
    # warm-up on a few units so template compilation is not timed
    asyncio.run(Engine(bundle, ModelBindings({}, default="scripted")).run(plans[:20]))
    engine = Engine(bundle, ModelBindings({}, default="scripted"), concurrency=64)
    started = time.perf_counter()
    records = asyncio.run(engine.run(plans))
    wall = time.perf_counter() - started
    assert len(records) == DEBATES and not engine.failures
    turns = sum(len(r["messages"]) + len(r["verdicts"]) for r in records)
    result = {"turns": turns, "wall_s": round(wall, 3), "turns_per_s": round(turns / wall, 1)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
