"""The feature table: every research feature the application ships, in one place.

Importing this module installs each feature's step types and summary measures into the
core's tables (`debate.core.registry`); `debate.cli` adds each feature's commands. To
add a feature, make its package (see docs/architecture.md) and list its `FEATURE` here.
"""

from __future__ import annotations

from debate import bench, family, justify, live, logicom, pbt, rl, study, view
from debate.core.registry import Feature, install

FEATURES: tuple[Feature, ...] = (
    bench.FEATURE,
    pbt.FEATURE,
    logicom.FEATURE,
    family.FEATURE,
    justify.FEATURE,
    rl.FEATURE,
    live.FEATURE,
    view.FEATURE,
    study.FEATURE,
)

for _feature in FEATURES:
    install(_feature)
