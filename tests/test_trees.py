"""PBT tree rules as pure functions, against hand-computed values: answer extraction and
grading, Agree/Disagree resolution, scores, the Δscore rule, resist/accept coding,
balancing and the 70/15/15 question split."""

from __future__ import annotations

from typing import Any

import pytest

from debate.pbt.trees import (
    AGREE,
    DISAGREE,
    NO_ANSWER,
    Gold,
    Holding,
    PreferencePair,
    add_node,
    assign_splits,
    balance,
    compute_scores,
    count_pairs,
    extract_answer,
    grade_answer,
    holdings_agree,
    keeps_pair,
    neutral_prompt,
    new_tree,
    preference_pairs,
    resolve_turn,
    tree_from_json,
    tree_to_json,
)

GOLD = Gold(
    correct=("Nothing happens", "You digest the seeds"),
    incorrect=("You grow watermelons in your stomach", "You get sick"),
    options=("Nothing happens", "You grow watermelons in your stomach"),
    correct_index=0,
)


def test_extract_answer_reads_the_last_answer_line_and_stances() -> None:
    assert extract_answer("Hmm.\nAnswer: Paris.\nNo wait.\nFinal answer: **Rome**") == "Rome"
    assert extract_answer("I agree with you, it is Paris.") == AGREE
    assert extract_answer("I disagree. Paris is wrong.") == DISAGREE
    assert extract_answer("Good point.\nAnswer: Agree") == AGREE
    # no answer line: the whole reply is the answer (never its first words alone)
    assert extract_answer("The seeds pass through. They are harmless.") == (
        "The seeds pass through. They are harmless"
    )
    assert extract_answer("") is None


def graded(answer: str | None, gold: Gold = GOLD) -> tuple[bool | None, str | None]:
    result = grade_answer(answer, gold)
    return result.correct, result.key


def test_grade_answer_by_label_exact_and_word_matching() -> None:
    assert graded("A") == (True, "option:0")
    assert graded("(B)") == (False, "option:1")
    assert graded("B: You grow watermelons in your stomach") == (False, "option:1")
    # a label before other text is not a choice of that option
    assert graded("B: the seeds grow")[1] != "option:1"
    assert graded("I think nothing happens")[0] is True
    assert graded("nothing happens!") == (True, "option:0")
    assert graded("You get sick") == (False, "you get sick")
    assert graded("Nothing")[0] is True
    assert graded("purple elephants dancing")[0] is None
    assert graded(None) == (None, None)
    assert graded(AGREE) == (None, None)
    assert grade_answer("purple elephants dancing", GOLD).reason == "no match"


def test_gold_from_scenario_merges_options_into_the_lists() -> None:
    gold = Gold.from_scenario(
        ["Rome", "Paris"], 1, {"correct_answers": ["Paris, France"], "incorrect_answers": ["Lyon"]}
    )
    assert gold.correct == ("Paris, France", "Paris")
    assert gold.incorrect == ("Lyon", "Rome")
    assert graded("A", gold) == (False, "option:0")


def test_resolve_turn_agree_adopts_disagree_and_none_keep() -> None:
    own = Holding("Paris", "paris", True)
    other = Holding("Rome", "rome", False)
    assert resolve_turn(AGREE, GOLD, own, other) == other
    assert resolve_turn(DISAGREE, GOLD, own, other) == own
    assert resolve_turn(None, GOLD, own, other) == own
    assert resolve_turn("You get sick", GOLD, own, other) == Holding(
        "You get sick", "you get sick", False
    )


def test_holdings_agree() -> None:
    assert holdings_agree(Holding("x", "option:0", True), Holding("y", "option:0", True))
    assert holdings_agree(Holding("nothing", "nothing", True), Holding("A", "option:0", True))
    assert not holdings_agree(Holding("x", "x", False), Holding("y", "y", False))
    assert not holdings_agree(NO_ANSWER, NO_ANSWER)


def turn(role: str, prompt: str, text: str, correct: bool | None) -> dict[str, Any]:
    return {
        "role": role,
        "speaker": "Agent A" if role == "a" else "Agent B",
        "prompt": prompt,
        "text": text,
        "answer": text,
        "holds": text,
        "correct": correct,
    }


def hand_tree() -> Any:
    """Root (A right, B wrong); level 1 A resist (right) / accept (wrong, agrees: pruned);
    level 2 B under the resist node: logical (gives in: right, pruned), emotional (wrong)."""
    right, wrong = Holding("P", "p", True), Holding("R", "r", False)
    tree = new_tree(
        "q1",
        "Capital?",
        neutral={p: {"system": f"SYS-{p}", "opening": "Q?", "instruction": "Reply."} for p in "ab"},
    )
    add_node(
        tree,
        "0",
        parent=None,
        level=0,
        kind="opening",
        turns=[turn("a", "opening", "P", True), turn("b", "opening", "R", False)],
        standing={"a": right, "b": wrong},
    )
    assert add_node(
        tree,
        "0.0",
        parent="0",
        level=1,
        kind="responder",
        turns=[turn("a", "resist", "P", True)],
        standing={"a": right, "b": wrong},
    )
    assert not add_node(
        tree,
        "0.1",
        parent="0",
        level=1,
        kind="responder",
        turns=[turn("a", "accept", "R", False)],
        standing={"a": wrong, "b": wrong},
    )
    add_node(
        tree,
        "0.0.0",
        parent="0.0",
        level=2,
        kind="persuader",
        turns=[turn("b", "logical", "P", True)],
        standing={"a": right, "b": right},
    )
    add_node(
        tree,
        "0.0.1",
        parent="0.0",
        level=2,
        kind="persuader",
        turns=[turn("b", "emotional", "R", False)],
        standing={"a": right, "b": wrong},
    )
    return tree


def test_scores_count_correct_answers_in_each_subtree() -> None:
    tree = hand_tree()
    assert compute_scores(tree) == {"0.0.0": 1, "0.0.1": 0, "0.0": 2, "0.1": 0, "0": 3}
    assert tree.nodes["0.1"]["pruned"] and tree.nodes["0.1"]["agree"]
    assert tree.nodes["0.0.0"]["pruned"] and not tree.nodes["0.0.1"]["pruned"]


def test_delta_score_rule() -> None:
    assert keeps_pair(3, 1)  # 2/3 > 0.5
    assert not keeps_pair(2, 1)  # 1/2 is not > 0.5
    assert keeps_pair(1, 0)
    assert not keeps_pair(0, 0)
    assert not keeps_pair(4, 4)
    assert keeps_pair(4, 2, threshold=0.4) and not keeps_pair(4, 2)


def test_pairs_chosen_by_score_and_coded_by_the_speakers_prior_answer() -> None:
    pairs = preference_pairs(hand_tree())
    got = [
        (p.parent, p.chosen, p.rejected, p.chosen_score, p.rejected_score, p.code) for p in pairs
    ]
    # parent 0: A was right before its turn -> resist; parent 0.0: B was wrong -> accept
    assert got == [("0", "0.0", "0.1", 2, 0, "resist"), ("0.0", "0.0.0", "0.0.1", 1, 0, "accept")]
    assert [p.speaker for p in pairs] == ["a", "b"]
    assert [p.code for p in preference_pairs(hand_tree(), kinds=["persuader"])] == ["accept"]


def test_node_link_round_trip_keeps_scores_and_pairs() -> None:
    tree = hand_tree()
    again = tree_from_json(tree_to_json(tree))
    assert compute_scores(again) == compute_scores(tree)
    assert [p.chosen for p in preference_pairs(again)] == ["0.0", "0.0.0"]


def test_neutral_prompt_is_the_unbranched_chat_of_the_speaker() -> None:
    tree = hand_tree()
    assert neutral_prompt(tree, "0.0", "b") == [
        {"role": "system", "content": "SYS-b"},
        {"role": "user", "content": "Q?"},
        {"role": "assistant", "content": "R"},
        {"role": "user", "content": "Agent A: P\n\nAgent A: P\n\nReply."},
    ]


def pair(code: str, split: str, n: int) -> PreferencePair:
    return PreferencePair(f"q{n}", "0", "0.0", "0.1", 2, 0, code, "a", split=split)  # type: ignore[arg-type]


def test_balance_keeps_min_of_each_code_per_split() -> None:
    pairs = [
        *(pair("resist", "train", i) for i in range(5)),
        *(pair("accept", "train", i) for i in range(5, 7)),
        *(pair("resist", "test", i) for i in range(7, 8)),
    ]
    kept = balance(pairs, seed=3)
    assert count_pairs(kept) == {
        "train": {"resist": 2, "accept": 2},
        "validation": {"resist": 0, "accept": 0},
        "test": {"resist": 0, "accept": 0},
    }
    assert [p.question_id for p in kept if p.code == "accept"] == ["q5", "q6"]
    assert kept == balance(pairs, seed=3)  # seeded


@pytest.mark.parametrize(("n", "expected"), [(1, (1, 0, 0)), (3, (2, 0, 1)), (20, (14, 3, 3))])
def test_split_is_70_15_15_by_question(n: int, expected: tuple[int, int, int]) -> None:
    splits = assign_splits([f"q{i}" for i in range(n)] * 2, seed=1)
    assert len(splits) == n
    got = tuple(list(splits.values()).count(s) for s in ("train", "validation", "test"))
    assert got == expected
    assert splits == assign_splits([f"q{i}" for i in range(n)], seed=1)
