"""Run summaries: judge accuracy for judged protocols, final-answer accuracy for the rest."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from debate.report import summarize, summary_table


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
