"""Summaries of a run: judge accuracy with CIs, invalid counts, position split; tables and files.

Accuracy is counted per unit: a unit is correct when its final verdict is valid and
gives the correct answer more than half the probability; an invalid verdict counts
as not correct. CIs resample whole scenarios (both answer orders of a question move
together). With `swap`, the swap-averaged accuracy averages p(correct) over the two
orders of each question.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from debate.analysis.metrics import (
    accuracy,
    accuracy_by_position,
    format_estimate,
    swap_disagreement,
)
from debate.core.loading import load_protocol
from debate.core.record import LABELS
from debate.core.registry import MEASURES, Row, load_features
from debate.errors import DebateInputError


def p_correct(record: dict[str, Any]) -> float | None:
    final = record.get("final_verdict")
    index = record.get("correct_index")
    if not final or not final.get("valid") or index is None:
        return None
    return float(final["probs"][index])


def _chosen_answer(record: dict[str, Any]) -> str | None:
    final = record.get("final_verdict")
    if not final or not final.get("valid") or final.get("chosen") is None:
        return None
    return str(record["answers"][final["chosen"]])


def summarize(
    records: list[dict[str, Any]],
    failures: list[dict[str, Any]] | None = None,
    *,
    protocol: str | None = None,
    measures: Sequence[str] = (),
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The summary.json of a run."""
    failures = failures or []
    judged = [r for r in records if r.get("final_verdict") is not None]
    scored = [r for r in judged if r.get("correct_index") is not None]
    valid = [r for r in judged if r["final_verdict"]["valid"]]
    clusters = [r["scenario_id"] for r in scored]
    overall = accuracy([bool(r["correct"]) for r in scored], clusters=clusters)
    positions = accuracy_by_position(
        [bool(r["correct"]) for r in scored], [int(r["correct_index"]) for r in scored]
    )
    items: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for record in scored:
        key = (
            record["scenario_id"],
            json.dumps(record.get("variant", {})),
            record.get("repeat", 0),
        )
        items[key].append(record)
    averaged: list[bool] = []
    pairs: list[tuple[str | None, str | None]] = []
    for group in items.values():
        probs = [p_correct(r) for r in group]
        if len(group) == 2:
            pairs.append((_chosen_answer(group[0]), _chosen_answer(group[1])))
        if probs and all(p is not None for p in probs):
            averaged.append(sum(p for p in probs if p is not None) / len(probs) > 0.5)
    usage: dict[str, int] = defaultdict(int)
    for record in records:
        for counts in record.get("usage", {}).values():
            for key, value in counts.items():
                usage[key] += int(value)
    summary: dict[str, Any] = {
        "protocol": protocol or (records[0]["protocol"] if records else None),
        "n_units": len(records),
        "n_valid": len(valid),
        "n_invalid": len(judged) - len(valid),
        "n_failed": len(failures),
        "judge_accuracy": overall.value,
        "judge_accuracy_ci95": list(overall.ci95) if overall.ci95 else None,
        "judge_accuracy_n": overall.n,
        "accuracy_by_correct_position": {
            LABELS[position]: estimate.as_dict() for position, estimate in positions.items()
        },
        "swap_averaged_accuracy": accuracy(averaged).as_dict(),
        "swap_disagreement": swap_disagreement(
            [(a, b) for a, b in pairs if a is not None and b is not None]
        ).as_dict(),
        "usage": dict(usage),
        "stop_reasons": _count(r.get("stop_reason", "completed") for r in records),
    }
    # answer-improving protocols (a vote, a moderator, CRIT) decide without a final verdict
    answered = [
        r for r in records if r.get("final_verdict") is None and r.get("correct") is not None
    ]
    if answered:
        summary["answer_accuracy"] = accuracy(
            [bool(r["correct"]) for r in answered], clusters=[r["scenario_id"] for r in answered]
        ).as_dict()
        summary["answer_ungraded"] = accuracy(
            [not (r.get("state") or {}).get("final_answer", {}).get("graded") for r in answered],
            clusters=[r["scenario_id"] for r in answered],
        ).as_dict()
    chose = [r for r in records if (r.get("state") or {}).get("choices")]
    if chose:
        summary["choices"] = choice_figures(chose)
    summary["measures"] = list(measures)
    summary.update(protocol_figures(records, measures))
    if failures:
        summary["failures"] = [{"id": f["id"], "error": f["error"]} for f in failures[:50]]
    if extra:
        summary.update(extra)
    return summary


def choice_figures(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Open protocols: how often both debaters chose the same answer (`same_side`), and
    how often a debater's own pick was the correct answer (`choice_accuracy`)."""
    same: list[bool] = []
    picks: list[bool] = []
    clusters: list[str] = []
    for record in records:
        choices = record["state"]["choices"]
        chosen = [c.get("chosen") for c in choices.values()]
        same.append(bool(record["state"].get("same_side", len(set(chosen)) == 1)))
        if record.get("correct_index") is not None:
            for pick in chosen:
                picks.append(pick == record["correct_index"])
                clusters.append(record["scenario_id"])
    return {
        "same_side": accuracy(same, clusters=[r["scenario_id"] for r in records]).as_dict(),
        "choice_accuracy": accuracy(picks, clusters=clusters).as_dict(),
    }


def protocol_figures(records: list[dict[str, Any]], measures: Sequence[str]) -> dict[str, Any]:
    """The figures of the measures a protocol names (`summary:` in its YAML), each under
    its key; measures with nothing to measure in these records are left out."""
    if not records:
        return {}
    load_features()
    figures: dict[str, Any] = {}
    for name in measures:
        measure = MEASURES.get(name)
        if measure is None:
            continue
        computed = measure.compute(records)
        if computed is not None:
            figures[measure.key] = computed
    return figures


def protocol_rows(summary: dict[str, Any]) -> list[Row]:
    """Table rows (measure, value, n) of the protocol's own measures in a summary."""
    load_features()
    rows: list[Row] = []
    for name in summary.get("measures") or ():
        measure = MEASURES.get(name)
        if measure is not None and summary.get(measure.key):
            rows += measure.rows(summary[measure.key])
    return rows


def protocol_title(summary: dict[str, Any]) -> str:
    """The title of the first of the protocol's measures that has figures."""
    for name in summary.get("measures") or ():
        measure = MEASURES.get(name)
        if measure is not None and summary.get(measure.key):
            return measure.title
    return "protocol measures"


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for value in values:
        counts[str(value)] += 1
    return dict(counts)


def summary_rows(summary: dict[str, Any]) -> tuple[str, list[tuple[str, str, str]]]:
    """The title and (measure, value, n) rows of a run's report: judge accuracy for
    judged protocols, else the protocol's own measures."""
    judged = bool(summary["n_valid"] or summary["n_invalid"])
    answered = summary.get("answer_accuracy")
    own = protocol_rows(summary)
    what = (
        "judge accuracy"
        if judged or not (answered or own)
        else "final-answer accuracy"
        if answered
        else protocol_title(summary)
    )
    rows: list[tuple[str, str, str]] = []
    if answered:
        rows.append(("final-answer accuracy", format_estimate(answered), str(answered["n"])))
        ungraded = summary.get("answer_ungraded")
        if ungraded:
            rows.append(("  ungraded", format_estimate(ungraded), str(ungraded["n"])))
    rows += own
    if judged or not (answered or own):
        rows += _judge_rows(summary)
    choices = summary.get("choices")
    if choices:
        for label, key in (
            ("same answer chosen", "same_side"),
            ("choice accuracy", "choice_accuracy"),
        ):
            rows.append((label, format_estimate(choices[key]), str(choices[key]["n"])))
    stops = {k: v for k, v in summary.get("stop_reasons", {}).items() if k != "completed"}
    if stops:
        rows.append(("stopped early", ", ".join(f"{k} {v}" for k, v in stops.items()), ""))
    if summary.get("n_failed"):
        rows.append(("failed units", str(summary["n_failed"]), ""))
    cache = summary.get("cache")
    if cache:
        rows.append(("cache hits / misses", f"{cache['hits']} / {cache['misses']}", ""))
    return f"{summary.get('protocol')}: {what} (95% bootstrap CI)", rows


def summary_table(summary: dict[str, Any]) -> Table:
    title, rows = summary_rows(summary)
    table = Table(title=title)
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("n", justify="right")
    for row in rows:
        table.add_row(*row)
    return table


def _judge_rows(summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    overall = {"value": summary["judge_accuracy"], "ci95": summary["judge_accuracy_ci95"]}
    rows = [("judge accuracy", format_estimate(overall), str(summary.get("judge_accuracy_n", "")))]
    for label, estimate in summary["accuracy_by_correct_position"].items():
        rows.append((f"  correct answer at {label}", format_estimate(estimate), str(estimate["n"])))
    averaged = summary["swap_averaged_accuracy"]
    if averaged["n"]:
        rows.append(("swap-averaged accuracy", format_estimate(averaged), str(averaged["n"])))
    disagreement = summary["swap_disagreement"]
    if disagreement["n"]:
        rows.append(("swap disagreement", format_estimate(disagreement), str(disagreement["n"])))
    rows.append(("valid verdicts", str(summary["n_valid"]), str(summary["n_units"])))
    rows.append(("invalid verdicts", str(summary["n_invalid"]), str(summary["n_units"])))
    return rows


def write_summary(directory: Path, summary: dict[str, Any]) -> None:
    """`summary.json` (everything) and `report.md` (the table `debate run` prints)."""
    (directory / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", "utf-8")
    title, rows = summary_rows(summary)
    lines = [f"# Run report: {title}", "", "| measure | value | n |", "|---|---|---|"]
    lines += [f"| {measure.strip()} | {value} | {n} |" for measure, value, n in rows]
    (directory / "report.md").write_text("\n".join([*lines, ""]), "utf-8")


def print_summary(summary: dict[str, Any], console: Console | None = None) -> None:
    (console or Console()).print(summary_table(summary))


def run_measures(directory: Path) -> list[str]:
    """The measure sets a run's summary reports: the `summary` of the protocol resolved in
    its `spec.yaml`, or, for run directories written before protocols named them, the
    `summary` of the protocol of that name as declared now."""
    try:
        spec = yaml.safe_load((directory / "spec.yaml").read_text("utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return []
    if not isinstance(spec, dict):
        return []
    resolved = spec.get("resolved")
    protocol = resolved.get("protocol") if isinstance(resolved, dict) else None
    if isinstance(protocol, dict) and isinstance(protocol.get("summary"), list):
        return [str(name) for name in protocol["summary"]]
    name = spec.get("protocol")
    if not isinstance(name, str):
        return []
    try:
        return list(load_protocol(name).protocol.summary)
    except DebateInputError:
        return []
