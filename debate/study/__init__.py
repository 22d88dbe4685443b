"""Judge studies: people and models judging the same units, compared.

- `report`: match runs by unit; accuracy per judge, pairwise agreement and Cohen's
  kappa, Fleiss' kappa over annotators, humans against models;
- `commands`: `agreement`.

People judge through the `human` model backend (`debate.models.human`). Docs: docs/view.md.
"""

from debate.core.registry import Feature
from debate.study.commands import commands

FEATURE = Feature(name="study", docs="docs/view.md", commands=commands)
