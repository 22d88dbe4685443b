"""Run summaries: judge accuracy for judged protocols, final-answer accuracy for the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from debate.analysis.report import summarize, summary_table, write_summary


def record(i: int, *, correct: bool | None, verdict: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": f"u{i}",
        "protocol": "p",
        "scenario_id": f"q{i}",
        "correct_index": 0,
        "correct": correct,
        "final_verdict": verdict,
        "variant": {},
        "repeat": 0,
        "usage": {},
        "stop_reason": "moderator_decided" if i == 0 else "completed",
    }


def rendered(summary: dict[str, Any]) -> str:
    console = Console(record=True, width=120)
    console.print(summary_table(summary))
    return console.export_text()


def test_answer_protocols_report_final_answer_accuracy_not_judge_accuracy() -> None:
    records = [record(i, correct=i < 3, verdict=None) for i in range(4)]
    summary = summarize(records)
    assert summary["answer_accuracy"]["value"] == 0.75
    assert summary["answer_accuracy"]["n"] == 4
    assert summary["judge_accuracy"] is None
    text = rendered(summary)
    assert "final-answer accuracy" in text and "0.750" in text
    assert "judge accuracy" not in text and "invalid verdicts" not in text
    assert "moderator_decided 1" in text


def test_judged_protocols_keep_the_judge_table() -> None:
    verdict = {"valid": True, "chosen": 0, "probs": [0.8, 0.2]}
    records = [record(i, correct=True, verdict=verdict) for i in range(2)]
    summary = summarize(records)
    assert "answer_accuracy" not in summary
    assert summary["judge_accuracy"] == 1.0
    text = rendered(summary)
    assert "judge accuracy" in text and "final-answer accuracy" not in text


def logicom_record(i: int, condition: str, convinced: bool) -> dict[str, Any]:
    return {
        **record(i, correct=None, verdict=None),
        "scenario_id": f"claim{i // 3}",
        "variant": {"condition": condition},
        "models": {"debater": "m"},
        "state": {"checks": {"convinced": [convinced]}},
        "stop_reason": "convinced" if convinced else "max_rounds",
    }


def test_logicom_runs_report_convinced_rates_per_condition(tmp_path: Path) -> None:
    outcomes = {"none": [False, False, True, False], "fallacy": [True, True, True, False]}
    records = [
        logicom_record(i, condition, convinced)
        for condition, values in outcomes.items()
        for i, convinced in enumerate(values)
    ]
    summary = summarize(records, measures=["logicom"])
    rates = summary["logicom"]["m"]["convinced_rate"]
    assert rates["none"]["value"] == 0.25 and rates["fallacy"]["value"] == 0.75
    text = rendered(summary)
    assert "convinced rate, fallacy" in text and "0.750" in text
    assert "judge accuracy" not in text and "invalid verdicts" not in text
    write_summary(tmp_path, summary)
    report = (tmp_path / "report.md").read_text()
    assert "| convinced rate, none | 0.250" in report and "judge accuracy" not in report


def test_pbt_runs_report_their_own_measures() -> None:
    def graded(i: int, before: bool, after: bool) -> dict[str, Any]:
        grades = [{"answer": "A", "correct": before}, {"answer": "B", "correct": after}]
        return {**record(i, correct=None, verdict=None), "state": {"grades": {"model": grades}}}

    records = [graded(0, True, False), graded(1, True, True), graded(2, False, False)]
    summary = summarize(records, measures=["pbt-eval"])
    assert summary["pbt_eval"]["kind"] == "flipflop"
    assert summary["pbt_eval"]["flip_correct_to_wrong"]["value"] == 0.5
    text = rendered(summary)
    assert "flip correct to wrong" in text and "0.500" in text and "judge accuracy" not in text

    trees = [
        {**record(i, correct=None, verdict=None), "state": {"pbt": {"nodes": 5, "pruned": i}}}
        for i in range(2)
    ]
    trees[0]["state"]["pbt"]["root_agree"] = True
    summary = summarize(trees, measures=["pbt-tree"])
    assert summary["pbt_trees"]["nodes"] == 10 and summary["pbt_trees"]["pruned"] == 1
    assert summary["pbt_trees"]["root_agreement"]["value"] == 0.5
    assert "dialogue trees" in rendered(summary)
