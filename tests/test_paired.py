"""Paired differences: matching records, the estimate, and its paired bootstrap CI."""

from __future__ import annotations

from typing import Any

import pytest

from debate.analysis.metrics import accuracy
from debate.analysis.paired import (
    PairedItems,
    paired_difference,
    paired_items,
    question_key,
    unit_key,
)


def record(question: str, swap: bool, correct: bool, gold: int | None = 0) -> dict[str, Any]:
    return {
        "id": f"p/{question}/{'swap' if swap else 'orig'}",
        "scenario_id": question,
        "swap": swap,
        "correct_index": gold,
        "final_verdict": {"valid": True, "probs": [0.5, 0.5]},
        "correct": correct,
    }


def test_units_are_matched_by_id_and_unscored_records_left_out() -> None:
    a = [record("q1", False, True), record("q1", True, True), record("q2", False, False),
         record("q3", False, True, gold=None)]  # fmt: skip
    b = [record("q1", True, False), record("q2", False, False), record("q1", False, True)]
    items = paired_items(a, b, unit_key)
    assert items.a == [1.0, 1.0, 0.0] and items.b == [1.0, 0.0, 0.0]
    assert items.clusters == ["q1", "q1", "q2"]
    result = paired_difference(items, resamples=500)
    assert result["difference"]["value"] == pytest.approx(1 / 3)
    assert (result["n"], result["questions"], result["a_better"], result["b_better"]) == (
        3,
        2,
        1,
        0,
    )


def test_questions_average_both_orders() -> None:
    a = [record("q1", False, True), record("q1", True, False), record("q2", False, True)]
    b = [record("q1", False, True), record("q1", True, True), record("q2", False, False)]
    items = paired_items(a, b, question_key)
    assert items.a == [0.5, 1.0] and items.b == [1.0, 0.0]


def test_paired_ci_is_narrower_than_the_unpaired_spread_when_judges_agree_mostly() -> None:
    # 40 questions of varying difficulty; judge a is right wherever b is, and on 6 more
    b_right = [i % 2 == 0 for i in range(40)]
    a_right = [right or i in (1, 3, 5, 7, 9, 11) for i, right in enumerate(b_right)]
    items = PairedItems(
        a=[float(x) for x in a_right], b=[float(x) for x in b_right],
        clusters=[f"q{i}" for i in range(40)],
    )  # fmt: skip
    result = paired_difference(items, resamples=2000)
    low, high = result["difference"]["ci95"]
    assert result["difference"]["value"] == pytest.approx(0.15) and low > 0.0
    separate = [accuracy(a_right).ci95, accuracy(b_right).ci95]
    assert all(ci is not None for ci in separate)
    assert separate[0][0] < separate[1][1]  # type: ignore[index]  # unpaired CIs overlap
    assert high - low < (separate[0][1] - separate[0][0])  # type: ignore[index]


def test_identical_conditions_give_a_zero_width_interval() -> None:
    items = PairedItems(a=[1.0, 0.0, 1.0], b=[1.0, 0.0, 1.0], clusters=["x", "y", "z"])
    result = paired_difference(items)
    assert result["difference"]["value"] == 0.0 and result["difference"]["ci95"] == [0.0, 0.0]
    empty = paired_difference(PairedItems(a=[], b=[], clusters=[]))
    assert empty["difference"]["value"] is None and empty["n"] == 0
