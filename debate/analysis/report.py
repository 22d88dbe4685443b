"""Summaries of a run: judge accuracy with CIs, invalid counts, position split; tables and files.

Accuracy is counted per unit: a unit is correct when its final verdict is valid and
gives the correct answer more than half the probability; an invalid verdict counts
as not correct. CIs resample whole scenarios (both answer orders of a question move
together). With `swap`, the swap-averaged accuracy averages p(correct) over the two
orders of each question.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from debate.analysis.metrics import format_estimate
from debate.analysis.tally import RunTally
from debate.core.costs import PriceTable
from debate.core.files import load_yaml
from debate.core.loading import load_protocol
from debate.core.registry import MEASURES, Measure, Row, load_features
from debate.core.store import check_run_dir, latest_failures, read_jsonl
from debate.errors import DebateInputError


def p_correct(record: dict[str, Any]) -> float | None:
    final = record.get("final_verdict")
    index = record.get("correct_index")
    if not final or not final.get("valid") or index is None:
        return None
    return float(final["probs"][index])


def summarize(
    records: Iterable[dict[str, Any]],
    failures: list[dict[str, Any]] | None = None,
    *,
    protocol: str | None = None,
    measures: Sequence[str] = (),
    extra: dict[str, Any] | None = None,
    prices: PriceTable | None = None,
) -> dict[str, Any]:
    """The summary.json of a run, in one pass over `records` (a list or a stream).

    Only per-unit scalars are kept (see `RunTally`), plus what the protocol's own
    measures keep of each record (a measure may declare a `slim` view of a record)."""
    tally = RunTally()
    tally.add_failures(failures or [])
    chosen = _measures(measures)
    kept: dict[str, list[dict[str, Any]]] = {measure.name: [] for measure in chosen}
    for record in records:
        tally.add(record)
        for measure in chosen:
            kept[measure.name].append(measure.slim(record) if measure.slim else record)
    summary = tally.summary(protocol=protocol, prices=prices)
    failed = summary.pop("failures", None)
    summary["measures"] = list(measures)
    for measure in chosen:
        computed = measure.compute(kept[measure.name]) if kept[measure.name] else None
        if computed is not None:
            summary[measure.key] = computed
    if failed:
        summary["failures"] = failed
    if extra:
        summary.update(extra)
    return summary


def summarize_run(
    directory: Path,
    *,
    protocol: str | None = None,
    measures: Sequence[str] | None = None,
    extra: dict[str, Any] | None = None,
    prices: PriceTable | None = None,
) -> dict[str, Any]:
    """The summary of a run directory, streaming its records from disk."""
    path = check_run_dir(directory)
    return summarize(
        read_jsonl(path, typed=True),
        list(latest_failures(directory).values()),
        protocol=protocol,
        measures=run_measures(directory) if measures is None else measures,
        extra=extra,
        prices=prices,
    )


def _measures(names: Sequence[str]) -> list[Measure]:
    if not names:
        return []
    load_features()
    return [MEASURES[name] for name in names if name in MEASURES]


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
    mass = summary.get("judge_label_mass") or {"n": 0}
    if mass["n"]:
        rows.append(("judge label mass", format_estimate(mass), str(mass["n"])))
    if summary.get("n_parse_fallback"):
        low = summary.get("n_low_label_mass", 0)
        label = f"parsed, labels not trusted ({low} low mass)"
        rows.append((label, str(summary["n_parse_fallback"]), str(summary["n_units"])))
    for method, count in (summary.get("n_corrected") or {}).items():
        label = f"corrected for position ({method})"
        rows.append((label, str(count), str(summary["n_units"])))
    if summary.get("n_confidence_contradicts"):
        label = "confidence contradicting the answer"
        rows.append((label, str(summary["n_confidence_contradicts"]), str(summary["n_units"])))
    if summary.get("n_tied"):
        rows.append(
            ("tied verdicts (not correct)", str(summary["n_tied"]), str(summary["n_units"]))
        )
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
        spec = load_yaml(directory / "spec.yaml")
    except DebateInputError:
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
