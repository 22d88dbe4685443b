"""Persuasion-balanced dialogue trees (PBT): tree expansion, evaluation protocols, DPO data.

- `steps`: the `branch`, `grade`, `gold` and `alternate` step types;
- `trees`: the trees as networkx graphs, scores, preference pairs, splits;
- `evaluation`: flip-flop, balanced and team-debate measures (`debate pbt-eval`);
- `measures`: what a PBT run's summary reports;
- `dpo`: `debate train dpo` on exported preference pairs (needs the `train` extra);
- `commands`: `export prefs`, `show-tree`, `pbt-eval`, `train dpo`.

Docs: docs/pbt.md.
"""

from debate.core.registry import Feature
from debate.pbt import measures, steps, trees
from debate.pbt.commands import commands

FEATURE = Feature(
    name="pbt",
    docs="docs/pbt.md",
    steps=(steps.Branch, steps.GradeStep, steps.GoldStep, steps.Alternate),
    measures=(measures.EVALUATION, measures.TREES),
    commands=commands,
    annotate=trees.view_pairs,
)
