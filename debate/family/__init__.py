"""The debate family: MAD, Society of Minds and SocraSynth as round structures.

- `steps`: the `schedule`, `vote`, `moderate` and `settle` step types;
- `report`: answer reading, final-answer accuracy, agreement by round (`debate family-report`);
- `commands`: `family-report`.

Docs: docs/family.md.
"""

from debate.core.registry import Feature
from debate.family import steps
from debate.family.commands import commands

FEATURE = Feature(
    name="family",
    docs="docs/family.md",
    steps=(steps.Schedule, steps.Vote, steps.Moderate, steps.Settle),
    commands=commands,
)
