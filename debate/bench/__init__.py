"""Judge-accuracy benchmarks: experiment grids, debater tournaments, reports, NYU replay.

- `experiment`: `EXPERIMENT.yaml`, planning the grid's cells and `run_bench`;
- `cells`: one cell = one run directory, run through `debate.runner`;
- `tournament`: debater tournaments (round-robin or Swiss) and ratings;
- `report`: per-cell metrics, pooled tables, ratings, `report.md`;
- `replay`: the NYU human debates replayed to a model judge (`debate replay`);
- `commands`: `bench`, `replay`.

Docs: docs/bench.md.
"""

from debate.bench.commands import commands
from debate.core.registry import Feature

FEATURE = Feature(name="bench", docs="docs/bench.md", commands=commands)
