"""The tables features fill in: step types, summary measures and CLI commands.

The core defines the tables and reads them; it never imports a feature. Which features
exist is written down once, in the application's feature table (`debate.features`),
which installs each feature's entries here. The core loads that table by name the first
time a table is read, the way Python loads a plug-in's entry point, so a protocol that
uses a feature's step type works from any entry point (the CLI, `debate.run`, a trainer
importing `debate.rewards`) without a folder scan.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

FEATURE_TABLE = "debate.features"
CORE_STEP_MODULES = ("debate.core.moderation", "debate.core.rewrite")
"""Core step types beyond `debate.core.steps`' own (they build on `speak`, so they live apart)."""

Row = tuple[str, str, str]
"""One line of a run's report table: (measure, value, n)."""


@dataclass(frozen=True)
class Measure:
    """A protocol's own summary figures, named by the protocol's `summary:` key.

    `compute(records)` returns the figures (stored in `summary.json` under `key`), or
    None when the records hold nothing to measure; `rows(figures)` makes the report's
    table lines; `title` names the table when no judge decides the protocol; `slim`
    keeps what `compute` needs of each record.
    """

    name: str
    key: str
    title: str
    compute: Callable[[list[dict[str, Any]]], dict[str, Any] | None]
    rows: Callable[[dict[str, Any]], list[Row]]
    slim: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    """What `compute` reads of a record: the summary keeps only this of each record as
    it streams a run (None: the whole record, fine for the small runs such protocols make)."""


STEP_TYPES: dict[str, type] = {}
"""Step types by the YAML key that selects them (`speak`, `branch`, `vote` ...)."""

MEASURES: dict[str, Measure] = {}
"""Summary measures by the name a protocol's `summary:` gives (`logicom`, `pbt-tree` ...)."""


@dataclass(frozen=True)
class Command:
    """One CLI command: its group (`""` for top level, or `train`, `export`), name, function."""

    group: str
    name: str
    function: Callable[..., Any]


@dataclass
class CommandTable:
    """A feature's CLI commands, declared with `@commands.command(name, group=...)`."""

    entries: list[Command] = field(default_factory=list)

    def command(
        self, name: str, group: str = ""
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def add(function: Callable[..., Any]) -> Callable[..., Any]:
            self.entries.append(Command(group, name, function))
            return function

        return add


@dataclass(frozen=True)
class Feature:
    """One research feature: what it adds to the engine, the report and the CLI."""

    name: str
    docs: str
    steps: tuple[type, ...] = ()
    measures: tuple[Measure, ...] = ()
    commands: CommandTable | None = None
    annotate: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None
    """Facts only this feature can derive from a unit record, for viewers to show
    (PBT's preference pairs); None when it has nothing to add for that record."""


FEATURES: dict[str, Feature] = {}
_loaded = False


def register_step(cls: type) -> type:
    """Add a step type under its `key`."""
    STEP_TYPES[cls.key] = cls  # type: ignore[attr-defined]
    return cls


def install(feature: Feature) -> None:
    """Add one feature's step types and measures to the tables."""
    FEATURES[feature.name] = feature
    for step in feature.steps:
        register_step(step)
    for measure in feature.measures:
        MEASURES[measure.name] = measure


def load_features() -> None:
    """Install the application's feature table once (a no-op after the first call)."""
    global _loaded
    if not _loaded:
        _loaded = True
        for module in (*CORE_STEP_MODULES, FEATURE_TABLE):
            importlib.import_module(module)
