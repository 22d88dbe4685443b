"""Judge-accuracy benchmarks: experiment grids, debater tournaments, reports, NYU replay.

- `experiment`: `EXPERIMENT.yaml`, planning the grid's cells and `run_bench`;
- `cells`: one cell = one run directory, run through `debate.runner`;
- `tournament`: debater tournaments (round-robin or Swiss) and ratings;
- `report`: per-cell metrics, pooled tables, ratings, `report.md`;
- `replay`: the NYU human debates replayed to a model judge (`debate replay`);
- `rejudge`: a finished run's units rebuilt for a new judge (stored messages, verdict
  steps only, no debater calls); `judging`: `debate judge` (one run directory per judge,
  judges compared on the same units); `comparisons`: paired judge and protocol
  differences of a benchmark and its debater calls;
- `commands`: `bench`, `replay`, `judge`.

`debate judge` lives here, not in a package of its own, because a sweep's judges share
debates through it, and features do not import each other.

Docs: docs/bench.md, docs/judging.md.
"""

from debate.bench.commands import commands
from debate.core.registry import Feature

FEATURE = Feature(name="bench", docs="docs/bench.md", commands=commands)
