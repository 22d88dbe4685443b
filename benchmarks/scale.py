"""Memory and throughput of `debate run` at scale, with the scripted model.

Workload: generated two-answer questions, the shipped `debate` protocol (both answer
orders, so two units per question), every role on the `scripted` backend (no network,
no model: what is measured is the framework), `--concurrency 256`. Each size runs as
its own `debate run` process (10k, 50k and 200k units by default) from the empty run
directory to the written summary; the process's own peak resident memory (getrusage
RUSAGE_SELF, read at exit) and its wall time are taken. Then 50k units run with
`--executor ray` (2 workers, the `scripted/latency-5` backend: each model call answers
after 5 ms) and the driver's peak memory is taken the same way.

Prints one JSON object:
- `units`: the sizes;
- `peak_rss_mb`: peak RSS per size (MB);
- `rss_growth_kb_per_unit`: (peak at the largest - peak at the smallest) / (unit difference);
- `units_per_s`: units per second per size (whole process: start-up, run, summary);
- `ray_units`, `ray_driver_peak_rss_mb`, `ray_units_per_s`.

Goals: growth <= 0.2 KB per unit and peak <= 400 MB at 200k units.
`--sizes 10000,40000` and `--ray-units 0` choose other sizes or skip the Ray run.
Run from the repository root: `python benchmarks/scale.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONCURRENCY = 256

# runs the CLI and writes this process's peak RSS (KB on Linux) to the file in argv[1]
DRIVER = (
    "import atexit, resource, sys\n"
    "peak_file = sys.argv.pop(1)\n"
    "def report():\n"
    "    with open(peak_file, 'w') as handle:\n"
    "        handle.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
    "atexit.register(report)\n"
    "sys.argv[0] = 'debate'\n"
    "from debate.cli import main\n"
    "main()\n"
)


def write_questions(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for i in range(count):
            row = {
                "id": f"q{i:07d}",
                "question": f"Is statement number {i} true?",
                "answers": ["yes", "no"],
                "correct_index": i % 2,
            }
            handle.write(json.dumps(row) + "\n")


def run(work: Path, units: int, model: str, extra: list[str]) -> dict[str, float]:
    """One `debate run` of `units` units: peak RSS (MB), wall seconds, units per second."""
    tag = f"{units}-{model.replace('/', '_')}-{len(extra)}"
    questions = work / f"questions-{tag}.jsonl"
    write_questions(questions, units // 2)
    peak_file = work / f"peak-{tag}"
    command = [
        sys.executable, "-c", DRIVER, str(peak_file),
        "run", "debate", "--scenarios", str(questions), "--model", model,
        "--concurrency", str(CONCURRENCY), "--out", str(work / f"run-{tag}"), *extra,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=work, stdout=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"the run of {units} units failed (exit status {result.returncode})")
    summary = json.loads((work / f"run-{tag}" / "summary.json").read_text("utf-8"))
    if summary["n_units"] != units:
        raise SystemExit(f"the run of {units} units wrote {summary['n_units']} records")
    peak_mb = int(peak_file.read_text()) / 1024
    return {"peak_rss_mb": round(peak_mb, 1), "wall_s": wall, "units_per_s": units / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000,200000")
    parser.add_argument("--ray-units", type=int, default=50_000)
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    out: dict[str, object] = {"units": sizes}
    with tempfile.TemporaryDirectory(prefix="debate-scale-") as tmp:
        work = Path(tmp)
        figures = {size: run(work, size, "scripted", []) for size in sizes}
        out["peak_rss_mb"] = {str(s): f["peak_rss_mb"] for s, f in figures.items()}
        small, large = sizes[0], sizes[-1]
        if large > small:
            growth = (figures[large]["peak_rss_mb"] - figures[small]["peak_rss_mb"]) * 1024
            out["rss_growth_kb_per_unit"] = round(growth / (large - small), 4)
        out["units_per_s"] = {str(s): round(f["units_per_s"], 1) for s, f in figures.items()}
        out["wall_s"] = {str(s): round(f["wall_s"], 2) for s, f in figures.items()}
        if args.ray_units > 0:
            ray = run(
                work, args.ray_units, "scripted/latency-5", ["--executor", "ray", "--workers", "2"]
            )
            out["ray_units"] = args.ray_units
            out["ray_driver_peak_rss_mb"] = ray["peak_rss_mb"]
            out["ray_units_per_s"] = round(ray["units_per_s"], 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
