"""debate: declarative multi-agent debate and argumentation protocols.

The package holds mechanisms (engine, models, judges, metrics); the protocols,
agents, judges and scenario sets themselves are YAML declarations. Importing it
never imports torch or transformers: model backends load lazily, and so does the
Python face below.

    import debate
    run = debate.run("debate", scenarios="truthfulqa-sample", models="scripted", limit=5)
    run.summary["judge_accuracy"], run.to_pandas()
    same = debate.load_run(run.path)

See docs/architecture.md for the map of the package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from debate.version import __version__

if TYPE_CHECKING:
    from debate.api import Run, arun, load_run, run
    from debate.core.record import UnitRecord

__all__ = ["Run", "UnitRecord", "__version__", "arun", "load_run", "run"]

_LAZY = {
    "Run": "debate.api",
    "arun": "debate.api",
    "load_run": "debate.api",
    "run": "debate.api",
    "UnitRecord": "debate.core.record",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'debate' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
