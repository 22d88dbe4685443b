"""LOGICOM: do logical fallacies persuade a model more than logical arguments?

The protocol itself (`protocols/logicom.yaml`) runs on the core's moderation steps
(`say`, `check`, `counter`, `rewrite`); this package reads its results:

- `stats`: convinced rates per condition from our runs or the authors' CSV logs;
- `fallacies`: the fallacy taxonomy, fallacy-class statistics and detection scores;
- `measures`: what a LOGICOM run's summary reports;
- `commands`: `logicom-stats`, `fallacy-stats`, `fallacy-detection`.

Docs: docs/logicom.md.
"""

from debate.core.registry import Feature
from debate.logicom import measures
from debate.logicom.commands import commands

FEATURE = Feature(
    name="logicom", docs="docs/logicom.md", measures=(measures.CONVINCED,), commands=commands
)
