"""Tokens and dollars of a run: the price table, per-role and per-model sums, budgets.

Prices come only from a user-editable YAML price table (US dollars per million
tokens, per model string exactly as records name it, e.g. `openai/gpt-4o-mini`); a
model the table does not list has tokens but no cost, never a guessed one. Cached
prompt tokens (servers report them as `prompt_tokens_details.cached_tokens`) are part
of the prompt tokens; they are charged at the `cached_input` price when the table
gives one, else at the `input` price.

A `Budget` decides whether the engine may start another unit: it estimates the next
unit's cost (or tokens) as the mean of the units finished so far, counting those
finished before a resume.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from debate.core.record import BILLED_TOKENS
from debate.errors import DebateInputError, pydantic_lines

PRICES_ENV = "DEBATE_PRICES"
"""Environment variable naming the price table when `--prices` is not given."""

TOKEN_KEYS = BILLED_TOKENS
INFO_KEYS = ("replayed_tokens", "calls")
"""Counted and summed, never priced: tokens replayed from the local cache, model calls."""
MAX_PRICED_MODELS = 10_000


class Price(BaseModel):
    """US dollars per million tokens of one model."""

    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0, allow_inf_nan=False)
    cached_input: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    output: float = Field(ge=0, allow_inf_nan=False)

    def dollars(self, tokens: Mapping[str, int]) -> float:
        prompt = int(tokens.get("prompt_tokens", 0))
        cached = min(prompt, int(tokens.get("cached_prompt_tokens", 0)))
        cached_rate = self.input if self.cached_input is None else self.cached_input
        completion = int(tokens.get("completion_tokens", 0))
        total = (prompt - cached) * self.input + cached * cached_rate + completion * self.output
        return total / 1_000_000


class PriceTable(BaseModel):
    """A price table file: when the prices were checked, where from, and the prices."""

    model_config = ConfigDict(extra="forbid")

    date: str = Field(min_length=1, max_length=40)
    source: str | None = Field(default=None, max_length=2000)
    currency: str = Field(default="USD", pattern="^USD$")
    prices: dict[str, Price] = Field(max_length=MAX_PRICED_MODELS)

    def price_of(self, model: str) -> Price | None:
        return self.prices.get(model)


def load_prices(path: Path | str) -> PriceTable:
    """Read a price table file; one line per problem on bad input."""
    import yaml

    path = Path(path).expanduser()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DebateInputError(f"{path}: cannot read price table ({exc.strerror})") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DebateInputError(f"{path}: not a valid YAML price table ({exc})") from exc
    if not isinstance(data, dict):
        raise DebateInputError(f"{path}: expected a mapping with 'date' and 'prices'")
    if isinstance(data.get("date"), object) and not isinstance(data.get("date"), str | None):
        data["date"] = str(data["date"])  # YAML reads 2026-06-20 as a date
    try:
        return PriceTable.model_validate(data)
    except ValidationError as exc:
        raise DebateInputError(*pydantic_lines(path, exc)) from exc


def find_prices(path: Path | str | None) -> PriceTable | None:
    """The price table of `--prices`, else of $DEBATE_PRICES, else none."""
    chosen = path if path is not None else os.environ.get(PRICES_ENV) or None
    return load_prices(chosen) if chosen is not None else None


def _count(value: Any) -> int:
    """A token count as written by the engine (an int), else what a hand-edited record
    gives: a number, or 0 for anything else."""
    if type(value) is int:
        return value
    return int(value) if isinstance(value, int | float) and math.isfinite(value) else 0


def _tokens(counts: Any) -> dict[str, int]:
    if not isinstance(counts, dict):
        return dict.fromkeys(TOKEN_KEYS, 0)
    get = counts.get
    out = {key: _count(get(key, 0)) for key in TOKEN_KEYS}
    for key in INFO_KEYS:
        if key in counts:
            out[key] = _count(counts[key])
    return out


def _add(into: dict[str, int], counts: Mapping[str, int]) -> None:
    for key in TOKEN_KEYS:
        into[key] = into.get(key, 0) + counts[key]
    for key in INFO_KEYS:
        if key in counts:
            into[key] = into.get(key, 0) + counts[key]


def record_usage(record: Mapping[str, Any]) -> Iterable[tuple[str, str, dict[str, int]]]:
    """(role, model string, tokens) of each role that made calls in a record or failure."""
    usage = record.get("usage")
    models = record.get("models")
    if not isinstance(usage, Mapping):
        return
    for role, counts in usage.items():
        model = models.get(role) if isinstance(models, Mapping) else None
        yield str(role), str(model) if model is not None else "unknown", _tokens(counts)


@dataclass
class UsageTally:
    """Token sums per role and per model over records (and failures), and their cost."""

    by_role: dict[str, dict[str, int]] = field(default_factory=dict)
    by_model: dict[str, dict[str, int]] = field(default_factory=dict)
    units: int = 0

    def add(self, record: Mapping[str, Any]) -> None:
        self.units += 1
        for role, model, tokens in record_usage(record):
            _add(self.by_role.setdefault(role, {}), tokens)
            _add(self.by_model.setdefault(model, {}), tokens)

    def copy(self) -> UsageTally:
        return UsageTally(
            {role: dict(t) for role, t in self.by_role.items()},
            {model: dict(t) for model, t in self.by_model.items()},
            self.units,
        )

    def total_tokens(self) -> int:
        return sum(t["prompt_tokens"] + t["completion_tokens"] for t in self.by_model.values())

    def cost(self, prices: PriceTable | None) -> dict[str, Any] | None:
        """Dollars per priced model and in total; None without a price table."""
        if prices is None:
            return None
        by_model: dict[str, float] = {}
        unpriced: list[str] = []
        for model, tokens in sorted(self.by_model.items()):
            price = prices.price_of(model)
            if price is None:
                unpriced.append(model)
            else:
                by_model[model] = round(price.dollars(tokens), 6)
        return {
            "usd": round(sum(by_model.values()), 6),
            "by_model_usd": by_model,
            "unpriced_models": unpriced,
            "complete": not unpriced,
            "price_table_date": prices.date,
        }

    def summary(self, prices: PriceTable | None) -> dict[str, Any]:
        tokens: dict[str, Any] = {
            "by_role": {role: dict(t) for role, t in sorted(self.by_role.items())},
            "by_model": {model: dict(t) for model, t in sorted(self.by_model.items())},
        }
        out: dict[str, Any] = {"tokens": tokens}
        cost = self.cost(prices)
        if cost is not None:
            out["cost"] = cost
        return out


@dataclass
class CostMeter:
    """Running totals for the progress bar and budgets: tokens, dollars, units counted."""

    prices: PriceTable | None = None
    units: int = 0
    tokens: int = 0
    usd: float = 0.0
    unpriced: set[str] = field(default_factory=set)

    def add(self, record: Mapping[str, Any]) -> None:
        self.units += 1
        for _role, model, counts in record_usage(record):
            self.tokens += counts["prompt_tokens"] + counts["completion_tokens"]
            price = self.prices.price_of(model) if self.prices is not None else None
            if price is not None:
                self.usd += price.dollars(counts)
            elif counts["prompt_tokens"] or counts["completion_tokens"]:
                self.unpriced.add(model)

    def label(self) -> str:
        """`$0.0123 est.` when every model so far is priced, else the token count."""
        tokens = _short(self.tokens) + " tok"
        if self.prices is None:
            return tokens
        if self.unpriced:
            return f"{tokens}, ≥${self.usd:.4f}"
        return f"{tokens}, ${self.usd:.4f} est."


def _short(value: int) -> str:
    for size, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if value >= size:
            return f"{value / size:.1f}{suffix}"
    return str(value)


@dataclass
class Budget:
    """`--max-cost` / `--max-tokens`: may another unit start, given the units in flight?"""

    meter: CostMeter
    max_cost: float | None = None
    max_tokens: int | None = None
    reached: bool = False

    @property
    def active(self) -> bool:
        return self.max_cost is not None or self.max_tokens is not None

    def _fits(self, spent: float, limit: float | None, per_unit: float, in_flight: int) -> bool:
        if limit is None:
            return True
        return spent + (in_flight + 1) * per_unit <= limit

    def decide(self, in_flight: int) -> bool | None:
        """True: start the next unit; False: start no more; None: wait for one to finish
        (before the first unit finishes there is nothing to estimate from)."""
        if not self.active:
            return True
        if self.reached:
            return False
        meter = self.meter
        if meter.units == 0:
            return True if in_flight == 0 else None
        fits = self._fits(
            meter.usd, self.max_cost, meter.usd / meter.units, in_flight
        ) and self._fits(meter.tokens, self.max_tokens, meter.tokens / meter.units, in_flight)
        if not fits:
            self.reached = True
        return fits

    def check_priced(self, models: Iterable[str]) -> None:
        """A cost budget needs a price for every model the run uses."""
        if self.max_cost is None:
            return
        prices = self.meter.prices
        if prices is None:
            raise DebateInputError(
                "--max-cost: needs a price table (--prices FILE or $DEBATE_PRICES)"
            )
        missing = sorted({m for m in models if prices.price_of(m) is None})
        if missing:
            raise DebateInputError(
                f"--max-cost: the price table ({prices.date}) has no price for "
                f"{', '.join(missing)}; add it or use --max-tokens"
            )


def check_budget(max_cost: float | None, max_tokens: int | None) -> None:
    """`--max-cost` and `--max-tokens` must be positive numbers."""
    if max_cost is not None and not (max_cost > 0 and math.isfinite(max_cost)):
        raise DebateInputError("--max-cost: must be a positive number of US dollars")
    if max_tokens is not None and max_tokens < 1:
        raise DebateInputError("--max-tokens: must be at least 1")
