"""Reading verdicts: the label position of a reply, label mass, and the text fallback.

Fast unit tests on response payloads in both logprob shapes servers send, and on the
confidence forms judges write. The same reading against real servers is in
`test_llamacpp_verdicts.py` (llama-cpp-python) and `test_local_model.py` (transformers).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from debate.core.declarations import JudgeSpec
from debate.core.judges import (
    CONTRADICTION_MARGIN,
    choice_probabilities,
    read_confidence,
    read_reply,
    read_stated,
)
from debate.models.base import Completion
from debate.models.label_reading import TokenPosition, label_of, read_labels, token_positions

LABELS = ["A", "B"]


def chat_shape(*tokens: tuple[str, float, list[tuple[str, float]]]) -> dict[str, Any]:
    return {
        "content": [
            {
                "token": token,
                "logprob": logprob,
                "top_logprobs": [{"token": t, "logprob": lp} for t, lp in alternatives],
            }
            for token, logprob, alternatives in tokens
        ]
    }


def legacy_shape(*tokens: tuple[str, float, list[tuple[str, float]]]) -> dict[str, Any]:
    return {
        "tokens": [token for token, _, _ in tokens],
        "token_logprobs": [logprob for _, logprob, _ in tokens],
        "top_logprobs": [dict(alternatives) for _, _, alternatives in tokens],
        "text_offset": list(range(len(tokens))),
    }


# The reply the bug was about: the first token is `Answer`, with the labels in its tail.
ANSWER_FIRST = (
    ("Answer", -0.01, [("Answer", -0.01), ("The", -5.0), ("A", -8.0), ("B", -9.0)]),
    (":", -0.001, [(":", -0.001), (" is", -7.5)]),
    (" B", -0.3, [(" B", -0.3), (" A", -1.5), (" C", -4.0)]),
    (".", -0.2, [(".", -0.2)]),
)


@pytest.mark.parametrize("shape", [chat_shape, legacy_shape])
def test_labels_are_read_after_the_answer_prefix_in_both_shapes(shape: Any) -> None:
    positions = token_positions(shape(*ANSWER_FIRST))
    assert [p.token for p in positions] == ["Answer", ":", " B", "."]
    reading = read_labels(positions, LABELS, "Answer:")
    assert reading.position == 2 and reading.logprobs is not None
    p_b = math.exp(reading.logprobs["B"])
    assert p_b == pytest.approx(math.exp(-0.3) / (math.exp(-0.3) + math.exp(-1.5)))
    assert reading.mass == pytest.approx(math.exp(-0.3) + math.exp(-1.5))


def test_a_first_token_that_is_no_label_never_gives_a_renormalised_tail() -> None:
    # the same first token, and the reply never reaches a label position
    reply = (ANSWER_FIRST[0], ("ing", -0.5, [("ing", -0.5), ("s", -1.0)]))
    reading = read_labels(token_positions(chat_shape(*reply)), LABELS, "Answer:")
    assert reading.logprobs is None and reading.position is None
    assert reading.note is not None and "Answer:" in reading.note
    # without a prefix the first token is the label position: no label in the top, no mass
    first_only = read_labels(token_positions(chat_shape(ANSWER_FIRST[0])), ["X", "Y"], None)
    assert first_only.logprobs is None and first_only.mass == 0.0
    # labels only in the tail of the first token: read, but with a mass that is tiny
    tail = read_labels(token_positions(chat_shape(ANSWER_FIRST[0])), LABELS, None)
    assert tail.mass is not None and tail.mass < 0.001


def test_prefilled_turn_reads_the_first_token_and_markdown_and_think_blocks() -> None:
    prefilled = token_positions(chat_shape((" A", -0.1, [(" A", -0.1), (" B", -2.4)])))
    reading = read_labels(prefilled, LABELS, "Answer:", prefill="Answer:")
    assert reading.position == 0 and reading.logprobs is not None
    thinking = token_positions(
        chat_shape(
            ("<think>", 0.0, [("<think>", 0.0)]),
            ("Answer: A?", -0.1, [("Answer: A?", -0.1)]),
            ("</think>", 0.0, [("</think>", 0.0)]),
            ("**Answer", -0.1, [("**Answer", -0.1)]),
            (":**", 0.0, [(":**", 0.0)]),
            (" **", -0.2, [(" **", -0.2), (" B", -2.0)]),
            ("B", -0.05, [("B", -0.05), ("A", -3.0)]),
        )
    )
    after = read_labels(thinking, LABELS, "Answer:")
    assert after.position == 6  # the label token after the markdown, not the think block
    assert after.logprobs is not None and after.logprobs["B"] > after.logprobs["A"]
    unclosed = read_labels(thinking[:2], LABELS, "Answer:")
    assert unclosed.logprobs is None and "think" in (unclosed.note or "")


def test_label_tokens_and_missing_alternatives() -> None:
    assert [label_of(t, LABELS) for t in (" A", "A", "**B", "(A", "B)", " Answer", "a")] == [
        "A",
        "A",
        "B",
        "A",
        "B",
        None,
        None,
    ]
    # B is not listed: it gets the smallest listed logprob, never zero
    only_a = [TokenPosition(" A", -0.1, [(" A", -0.1), (" The", -3.0)])]
    reading = read_labels(only_a, LABELS, None)
    assert reading.logprobs is not None and reading.logprobs["B"] > -math.inf
    assert math.exp(reading.logprobs["A"]) == pytest.approx(
        math.exp(-0.1) / (math.exp(-0.1) + math.exp(-3.0))
    )
    no_alternatives = [TokenPosition(" A", -0.1, [])]
    assert read_labels(no_alternatives, LABELS, None).logprobs is None


# ----------------------------------------------------------------- the text fallback


@pytest.mark.parametrize(
    ("text", "confidence"),
    [
        ("Answer: B\nConfidence: 30%", 0.3),
        ("Answer: B. Confidence: 0.3", 0.3),
        ("Answer: B (confidence 30/100)", 0.3),
        ("Answer: B, confidence: 3 out of 10", 0.3),
        ("Answer: B\nConfidence: 30", 0.3),
        ("Answer: B", None),
    ],
)
def test_confidence_forms(text: str, confidence: float | None) -> None:
    assert read_confidence(text) == (pytest.approx(confidence) if confidence else None)


@pytest.mark.parametrize(
    "text",
    ["Answer: B\nConfidence: 30%", "Answer: B. Confidence: 0.3", "Answer: B (confidence 30/100)"],
)
def test_a_low_confidence_never_overturns_the_stated_answer(text: str) -> None:
    stated = read_stated(text, LABELS)
    assert stated is not None and stated.chosen == 1
    assert stated.confidence == pytest.approx(0.3) and stated.contradicts
    assert stated.probs == pytest.approx([0.5 - CONTRADICTION_MARGIN, 0.5 + CONTRADICTION_MARGIN])
    assert max(stated.probs) == stated.probs[1]


def test_text_fallback_keeps_confidence_and_answer_when_they_agree() -> None:
    high = read_stated("Answer: B\nConfidence: 80%", LABELS)
    assert high is not None and high.probs == pytest.approx([0.2, 0.8]) and not high.contradicts
    bare = read_stated("Answer: A", LABELS)
    assert bare is not None and bare.probs == [1.0, 0.0] and bare.confidence is None
    level = read_stated("Answer: A, confidence 50%", LABELS)  # no preference is no verdict flip
    assert level is not None and level.chosen == 0 and level.probs[0] > level.probs[1]
    assert not level.contradicts
    four = read_stated("Answer: C. Confidence: 0.2", ["A", "B", "C", "D"])
    assert four is not None and four.contradicts and four.probs.index(max(four.probs)) == 2
    assert sum(four.probs) == pytest.approx(1.0)


def judge(**fields: Any) -> JudgeSpec:
    return JudgeSpec(name="j", system="s", instruction="i", **fields)


def completion(**fields: Any) -> Completion:
    return Completion(text=fields.pop("text", " A"), model="m", **fields)


def test_low_label_mass_falls_back_to_the_text_with_the_reason() -> None:
    confident_tail = {"A": math.log(0.9), "B": math.log(0.1)}
    low = completion(
        text="I think it is B. Answer: B", choice_logprobs=confident_tail, label_mass=0.2
    )
    reading = read_reply(low, LABELS, judge(), asked_logprobs=True)
    assert reading.method == "parse" and reading.probs == [0.0, 1.0]
    assert reading.label_mass == 0.2 and "label mass 0.200 below 0.5" in (reading.fallback or "")
    # the same reply above a lower threshold is read by its logprobs
    trusted = read_reply(low, LABELS, judge(min_label_mass=0.1), asked_logprobs=True)
    assert trusted.method == "logprobs" and trusted.probs == pytest.approx([0.9, 0.1])
    # a prefilled reply is parsed with its prefill
    prefilled = completion(text=" B", prefill="Answer:", label_note="no label", label_mass=None)
    parsed = read_reply(prefilled, LABELS, judge(), asked_logprobs=True)
    assert parsed.method == "parse" and parsed.probs == [0.0, 1.0] and parsed.fallback == "no label"
    assert choice_probabilities(low, LABELS) == [0.0, 1.0]
