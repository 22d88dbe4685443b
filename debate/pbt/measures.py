"""PBT's summary measures: the evaluation protocols' accuracies and flip rates, and
dialogue-tree counts."""

from __future__ import annotations

from typing import Any

from debate.analysis.metrics import accuracy, format_estimate
from debate.core.registry import Measure, Row
from debate.pbt.evaluation import evaluate, report_rows


def evaluation_figures(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not any("grades" in (record.get("state") or {}) for record in records):
        return None
    return evaluate(records)


def evaluation_rows(report: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for measure, value in report_rows(report):
        if isinstance(value, dict):
            rows.append((measure, format_estimate(value), str(value["n"])))
        else:
            rows.append((measure, str(value), ""))
    return rows


def tree_figures(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    trees = [
        (record["scenario_id"], (record.get("state") or {})["pbt"])
        for record in records
        if isinstance((record.get("state") or {}).get("pbt"), dict)
    ]
    if not trees:
        return None
    return {
        "trees": len(trees),
        "nodes": sum(int(tree.get("nodes", 0)) for _, tree in trees),
        "pruned": sum(int(tree.get("pruned", 0)) for _, tree in trees),
        "root_agreement": accuracy(
            [bool(tree.get("root_agree")) for _, tree in trees],
            clusters=[question for question, _ in trees],
        ).as_dict(),
    }


def tree_rows(trees: dict[str, Any]) -> list[Row]:
    agree = trees["root_agreement"]
    return [
        ("dialogue trees", str(trees["trees"]), ""),
        ("tree nodes (pruned)", f"{trees['nodes']} ({trees['pruned']})", ""),
        ("root answers agree", format_estimate(agree), str(agree["n"])),
    ]


EVALUATION = Measure(
    name="pbt-eval",
    key="pbt_eval",
    title="PBT measures",
    compute=evaluation_figures,
    rows=evaluation_rows,
)


def tree_counts(record: dict[str, Any]) -> dict[str, Any]:
    """What `tree_figures` reads of a record: its question and the tree's counts (not the
    tree itself, which the summary of a large run must not hold)."""
    pbt = (record.get("state") or {}).get("pbt")
    return {"scenario_id": record.get("scenario_id"), "state": {"pbt": pbt} if pbt else {}}


TREES = Measure(
    name="pbt-tree",
    key="pbt_trees",
    title="PBT measures",
    compute=tree_figures,
    rows=tree_rows,
    slim=tree_counts,
)
