"""A budget (`max_cost`, `max_tokens`) shared by the runs of an experiment or a judge study.

Each run (a bench cell, or one judge of `debate judge`) gets its own budget: what the whole
allows minus what the other runs spent (their records and failures, priced with the same
table). A run counts its own earlier spend when it resumes, so a resumed experiment or
study with a larger budget continues where it stopped. Once a run stops at its budget, no
further run starts and the whole's `stop_reason` is `budget`. A bench tournament is not
capped: it is skipped when the budget stopped the cells.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from debate.bench.cells import Cell, RunSettings, has_records, spent_in
from debate.core.costs import Budget, CostMeter, PriceTable, find_prices


def summary_of(directory: Path) -> dict[str, Any]:
    """A run directory's summary.json, or {} when it has none (yet)."""
    try:
        summary = json.loads((directory / "summary.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


class SharedBudget:
    """What the runs (run directories) of a whole have spent, and what one may still spend."""

    def __init__(
        self,
        prices: str | None,
        max_cost: float | None,
        max_tokens: int | None,
        directories: Iterable[Path],
    ) -> None:
        self.max_cost = max_cost
        self.max_tokens = max_tokens
        self.active = max_cost is not None or max_tokens is not None
        self.prices: PriceTable | None = find_prices(prices)
        self.stop_reason = "completed"
        self._spent: dict[Path, tuple[float, int]] = {}
        if self.active:
            for directory in directories:
                if has_records(directory):
                    self._count(directory)

    def _count(self, directory: Path) -> None:
        meter = CostMeter(self.prices)
        spent_in(directory, meter)
        self._spent[directory] = (meter.usd, meter.tokens)

    def ran(self, directory: Path, summary: dict[str, Any] | None = None) -> None:
        """Count what a run spent in the invocation that just ended, and whether its
        budget stopped it."""
        if not self.active:
            return
        self._count(directory)
        if (summary or summary_of(directory)).get("stop_reason") == "budget":
            self.stop_reason = "budget"

    def left_for(self, directory: Path) -> tuple[float | None, int | None] | None:
        """The cost and token budget of this run; None when nothing is left."""
        if not self.active:
            return None, None
        others = [spent for path, spent in self._spent.items() if path != directory]
        cost = tokens = None
        if self.max_cost is not None:
            cost = self.max_cost - sum(usd for usd, _ in others)
        if self.max_tokens is not None:
            tokens = self.max_tokens - sum(count for _, count in others)
        if (cost is not None and cost <= 0) or (tokens is not None and tokens <= 0):
            self.stop_reason = "budget"
            return None
        return cost, tokens

    def budget_for(self, directory: Path) -> Budget | None:
        """The budget of one run (it also carries the price table for its summary's cost);
        None when the whole has nothing left."""
        left = self.left_for(directory)
        if left is None:
            return None
        return Budget(CostMeter(self.prices), max_cost=left[0], max_tokens=left[1])

    def facts(self) -> dict[str, Any]:
        """The whole's `stop_reason`, and its budget and spend when it had one."""
        facts: dict[str, Any] = {"stop_reason": self.stop_reason}
        if self.active:
            facts["budget"] = {
                "max_cost_usd": self.max_cost,
                "max_tokens": self.max_tokens,
                "spent_usd": round(sum(usd for usd, _ in self._spent.values()), 6)
                if self.prices is not None
                else None,
                "spent_tokens": sum(tokens for _, tokens in self._spent.values()),
            }
        return facts


class ExperimentBudget(SharedBudget):
    """The budget of a `debate bench` experiment, over its cells."""

    def __init__(self, settings: RunSettings, cells: list[Cell]) -> None:
        super().__init__(
            settings.prices,
            settings.max_cost,
            settings.max_tokens,
            [Path(cell.dir) for cell in cells],
        )
