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


DEBATE_KEYS = ("scenario_id", "variant", "repeat", "stop_reason", "rounds", "models", "outcome")


def debate_facts(record: dict[str, Any]) -> dict[str, Any]:
    """What `debate_from_record` reads of a record (not the transcript): the summary of a
    large run keeps only this of each record."""
    state = record.get("state") if isinstance(record.get("state"), dict) else {}
    assert isinstance(state, dict)
    checks = state.get("checks")
    kept_state: dict[str, Any] = {key: state[key] for key in ("rewrite_failures",) if key in state}
    if isinstance(checks, dict):
        kept_state["checks"] = dict.fromkeys(checks, True)
    slim: dict[str, Any] = {key: record[key] for key in DEBATE_KEYS if key in record}
    slim["state"] = kept_state
    slim["messages"] = [
        {"meta": {"fallacy": message["meta"]["fallacy"]}}
        for message in record.get("messages") or []
        if isinstance(message, dict)
        and isinstance(message.get("meta"), dict)
        and message["meta"].get("fallacy")
    ]
    return slim


CONVINCED = Measure(
    name="logicom",
    key="logicom",
    title="LOGICOM convinced rates",
    compute=convinced_figures,
    rows=convinced_rows,
    slim=debate_facts,
)
