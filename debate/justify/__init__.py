"""Justifiable decisions with evidence debates (Sukovic & Radanovic, ICLR 2024).

A decision policy picks an action for a case; two argumentative agents then debate
that action against a baseline's by revealing state features as evidence, and a judge
proxy trained on partial-evidence preferences decides. The zero-sum outcome, mixed
with the task reward by lambda, trains a justifiable policy.

Submodules:
- `env`: the seeded synthetic decision environment and a CSV loader (numpy only);
- `judge`: the torch MLP judge proxy and the full-state ideal judge;
- `game`: the batched evidence debate and its transcript;
- `arguers`: random, greedy, minimax, learned (self-play) and confuser agents;
- `policy`: fitted-Q learning of a policy on logged data with the lambda-mixed reward;
- `experiment`: the lambda sweep (`run_justifiable`, `train_justifiable`);
- `report`: mean and 95% t-interval over seeds, rich table, markdown, PNG;
- `bridge`: the engine's `reveal` step body and synthetic case files for it;
- `steps`: the `reveal` step type; `commands`: `train justifiable`, `evidence-cases`.

`env`, `report` and `bridge` import without torch (bridge imports it when a step runs);
nothing in the core imports this package at import time.
"""

from debate.core.registry import Feature
from debate.justify import steps
from debate.justify.commands import commands

FEATURE = Feature(
    name="justify", docs="docs/justifiable.md", steps=(steps.Reveal,), commands=commands
)
