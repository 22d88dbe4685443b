"""LOGICOM's summary measures: convinced rates per condition and the fallacy effect."""

from __future__ import annotations

from typing import Any

from debate.analysis.metrics import format_estimate
from debate.core.registry import Measure, Row
from debate.errors import DebateInputError
from debate.logicom.stats import debate_from_record, stats_of

KEPT = ("convinced_rate", "fallacy_vs_logical_increase", "mean_rounds")


def convinced_figures(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Convinced rates per model and condition; None unless every record is a LOGICOM debate."""
    try:
        debates = [debate_from_record(record) for record in records]
    except DebateInputError:
        return None
    if not debates or not all(debates):
        return None
    stats = stats_of([d for d in debates if d is not None])["models"]
    return {model: {k: s.get(k) for k in KEPT} for model, s in stats.items()}


def convinced_rows(models: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for model, stats in models.items():
        tag = f" [{model}]" if len(models) > 1 else ""
        for condition, rate in stats["convinced_rate"].items():
            rows.append(
                (f"convinced rate, {condition}{tag}", format_estimate(rate), str(rate["n"]))
            )
        increase = stats.get("fallacy_vs_logical_increase")
        if increase is not None:
            rows.append((f"fallacy vs logical increase{tag}", f"{increase:+.3f}", ""))
    return rows


CONVINCED = Measure(
    name="logicom",
    key="logicom",
    title="LOGICOM convinced rates",
    compute=convinced_figures,
    rows=convinced_rows,
)
