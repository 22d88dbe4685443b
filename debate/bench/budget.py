"""An experiment's budget (`max_cost`, `max_tokens`): shared by all its cells.

Each cell is a run with its own budget: what the experiment allows minus what the other
cells spent (their records and failures, priced with the experiment's table). A cell's
run counts its own earlier spend when it resumes, so a resumed experiment with a larger
budget continues where it stopped. Once a cell stops at its budget, no further cell
starts and the experiment's `stop_reason` is `budget`. The tournament is not capped:
it is skipped when the budget stopped the cells.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from debate.bench.cells import Cell, RunSettings, has_records, spent_in
from debate.core.costs import CostMeter, PriceTable, find_prices


class ExperimentBudget:
    """What the cells of an experiment have spent, and what a cell may still spend."""

    def __init__(self, settings: RunSettings, cells: list[Cell]) -> None:
        self.max_cost = settings.max_cost
        self.max_tokens = settings.max_tokens
        self.active = self.max_cost is not None or self.max_tokens is not None
        self.prices: PriceTable | None = (
            find_prices(settings.prices) if self.active or settings.prices else None
        )
        self.stop_reason = "completed"
        self._spent: dict[str, tuple[float, int]] = {}
        if self.active:
            for cell in cells:
                if has_records(Path(cell.dir)):
                    self._count(cell)

    def _count(self, cell: Cell) -> None:
        meter = CostMeter(self.prices)
        spent_in(Path(cell.dir), meter)
        self._spent[cell.dir] = (meter.usd, meter.tokens)

    def ran(self, cell: Cell) -> None:
        """Count what a cell spent in the run that just ended, and whether its budget
        stopped it."""
        if not self.active:
            return
        self._count(cell)
        try:
            summary = json.loads((Path(cell.dir) / "summary.json").read_text("utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(summary, dict) and summary.get("stop_reason") == "budget":
            self.stop_reason = "budget"

    def left_for(self, cell: Cell) -> tuple[float | None, int | None] | None:
        """The cost and token budget of this cell's run; None when nothing is left."""
        if not self.active:
            return None, None
        others = [spent for directory, spent in self._spent.items() if directory != cell.dir]
        cost = tokens = None
        if self.max_cost is not None:
            cost = self.max_cost - sum(usd for usd, _ in others)
        if self.max_tokens is not None:
            tokens = self.max_tokens - sum(count for _, count in others)
        if (cost is not None and cost <= 0) or (tokens is not None and tokens <= 0):
            self.stop_reason = "budget"
            return None
        return cost, tokens

    def facts(self) -> dict[str, Any]:
        """The experiment's `stop_reason`, and its budget and spend when it had one."""
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
