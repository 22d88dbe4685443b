"""Reading and grading free-text answers, shared by PBT, the debate family and rewards.

One normaliser (`normalise`) for every comparison of answers; `extract_answer` reads
the answer a turn states; `grade_answer` matches it against a question's gold lists
(normalised, then fuzzy); `correctness` is the strict match the rewards use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz

AGREE, DISAGREE = "Agree", "Disagree"
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_ANSWER = re.compile(r"(?im)(?:final\s+)?answer\s*(?:is)?\s*[:\-]\s*\**\s*(.+)$")
_STANCE = re.compile(r"(?i)^\W*(?:i\s+)?(agree|disagree)\b")
_LABEL = re.compile(r"^\(?([A-Z])\)?(?:[.:)](?:\s|$)|$)")  # "B", "(B)", "B: text"


def normalise(text: str) -> str:
    """Lower case, no punctuation or articles, single spaces."""
    text = re.sub(r"[^\w\s]", " ", text.lower())
    return " ".join(_ARTICLES.sub(" ", text).split())


def extract_answer(text: str, max_words: int = 12) -> str | None:
    """The short answer a turn gives: `Answer: X` (the last one), else a leading
    "I agree" / "I disagree" (as `Agree` / `Disagree`), else the first sentence."""
    found = _ANSWER.findall(text)
    if found:
        answer = found[-1]
    else:
        stance = _STANCE.match(text)
        if stance:
            return AGREE if stance.group(1).lower() == "agree" else DISAGREE
        answer = re.split(r"(?<=[.!?])\s|\n", text.strip(), maxsplit=1)[0]
    answer = answer.strip().strip("*\"'` ").rstrip(".!")
    stance = _STANCE.match(answer)
    if stance and len(answer.split()) <= 3:
        return AGREE if stance.group(1).lower() == "agree" else DISAGREE
    words = answer.split()
    return " ".join(words[:max_words]) if words else None


@dataclass(frozen=True)
class Gold:
    """What counts as right for one question: answer lists and the shown options."""

    correct: tuple[str, ...]
    incorrect: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    correct_index: int | None = None

    @classmethod
    def from_scenario(
        cls, answers: Sequence[str], correct_index: int | None, fields: dict[str, Any]
    ) -> Gold:
        correct = [str(a) for a in fields.get("correct_answers") or []]
        incorrect = [str(a) for a in fields.get("incorrect_answers") or []]
        for i, option in enumerate(answers):
            (correct if i == correct_index else incorrect).append(str(option))
        return cls(tuple(correct), tuple(incorrect), tuple(answers), correct_index)


def grade_answer(
    answer: str | None, gold: Gold, threshold: float = 70.0
) -> tuple[bool | None, str | None]:
    """(correct, key) of a short answer. `key` identifies the answer for agreement:
    `option:i` when it names a shown option, else its normalised text. `correct` is None
    for no answer, an answer matching neither list (fuzzy score below `threshold`), or a tie."""
    if not answer or answer in (AGREE, DISAGREE):
        return None, None
    label = _LABEL.match(answer.strip())
    if label and gold.options:
        index = ord(label.group(1)) - ord("A")
        if 0 <= index < len(gold.options):
            picked = None if gold.correct_index is None else index == gold.correct_index
            return picked, f"option:{index}"
    norm = normalise(answer)
    if not norm:
        return None, None
    normalised_options = [normalise(o) for o in gold.options]

    def best(candidates: Iterable[str]) -> float:
        return max(
            (float(fuzz.token_set_ratio(norm, normalise(c))) for c in candidates), default=0.0
        )

    exact_correct = any(normalise(c) == norm for c in gold.correct)
    exact_incorrect = any(normalise(c) == norm for c in gold.incorrect)
    if exact_correct != exact_incorrect:
        correct: bool | None = exact_correct
    else:
        right, wrong = best(gold.correct), best(gold.incorrect)
        correct = None if max(right, wrong) < threshold or right == wrong else right > wrong
    key = norm
    if normalised_options:
        ratios = [fuzz.token_set_ratio(norm, o) for o in normalised_options]
        top = max(range(len(ratios)), key=lambda i: ratios[i])
        if ratios[top] >= 90 and ratios.count(ratios[top]) == 1:
            key = f"option:{top}"
    return correct, key


def correctness(answer: str, gold: Sequence[str], incorrect: Sequence[str] = ()) -> float:
    """1.0 when the answer matches a gold answer after normalisation, else 0.0.

    A match is equality, or a gold answer appearing as whole words inside the answer
    while no incorrect answer does (so "Paris, of course" matches "Paris", but an
    answer naming both a gold and an incorrect answer does not).
    """
    said = f" {normalise(answer)} "
    golds = [g for g in (normalise(x) for x in gold) if g]
    wrongs = [w for w in (normalise(x) for x in incorrect) if w]
    if said.strip() in golds:
        return 1.0
    if said.strip() in wrongs:
        return 0.0
    contains_gold = any(f" {g} " in said for g in golds)
    contains_wrong = any(f" {w} " in said for w in wrongs)
    return 1.0 if contains_gold and not contains_wrong else 0.0
