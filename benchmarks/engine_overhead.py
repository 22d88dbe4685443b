"""Engine overhead: how many turns per second the engine itself sustains.

Workload: 2,000 debates of the shipped `debate` protocol (3 rounds, 2 debaters, a final
verdict: 7 model calls each) with the deterministic `scripted` backend, which answers
instantly, so the time measured is the engine's: planning, rendering prompts and views,
quote checks, verdict parsing, events and records. Records are kept in memory (the run
store's per-record fsync measures the disk, not the engine).

The 2,000 debates are timed in 5 passes of fresh engines; `wall_s` is the median pass
(a shared 2-core VM's speed drifts by a quarter from second to second, and one pass
lasts under a second), `turns` the turns of one pass, and the passes' spread goes to
stderr.

Prints one JSON object: {"turns", "wall_s", "turns_per_s"}. Target: turns_per_s >= 20,000.
Run from the repository root: python benchmarks/engine_overhead.py
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time

from debate.core.engine import Engine, ModelBindings, plan_units
from debate.core.loading import load_protocol
from debate.core.scenarios import Scenario

DEBATES = 2000
PASSES = 5


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
    walls, turns = [], 0
    for _ in range(PASSES):
        engine = Engine(bundle, ModelBindings({}, default="scripted"), concurrency=64)
        started = time.perf_counter()
        records = asyncio.run(engine.run(plans))
        walls.append(time.perf_counter() - started)
        if len(records) != DEBATES or engine.failures:
            raise SystemExit(f"{len(records)} of {DEBATES} debates, failures: {engine.failures}")
        turns = sum(len(r["messages"]) + len(r["verdicts"]) for r in records)
        del records
    wall = statistics.median(walls)
    passes = [round(turns / w) for w in walls]
    print(json.dumps({"pass_turns_per_s": passes}), file=sys.stderr)
    result = {"turns": turns, "wall_s": round(wall, 3), "turns_per_s": round(turns / wall, 1)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
