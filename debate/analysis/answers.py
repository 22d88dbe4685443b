"""Reading and grading free-text answers: the project's one answer normaliser, shared by
PBT, the debate family and the rewards.

- `normalise(text)`: lower case, punctuation and articles removed, single spaces.
- `extract_answer(text)`: the answer a turn gives, whole: the text of its last
  `Answer: ...` line, else a leading "I agree" / "I disagree" (`Agree` / `Disagree`),
  else the whole reply. Nothing is cut to a number of words.
- `read_option(answer, options)`: the index of a shown option, only when options were
  shown and the text is clearly a choice: a bare label (`B`, `(B)`, `Option B`, `The
  answer is B`) or a label followed by that option's own text (`B: Fortune cookies ...`).
  A label followed by other text (`A: I think ...`, a speaker's own label) is not one.
- `grade_answer(answer, gold)`: a `Grade(correct, key, reason)`. Free text is compared
  with every correct and incorrect reference answer by content words (`similarity`):
  how much of the reference the answer says and how much of the answer the reference
  explains, leaving out words that tell no reference apart (the question's, and those
  every reference uses), and halving the score when a matched word is negated on one
  side only ("penetrates deeper" against "does not penetrate deeply"). An answer is
  graded only when one side matches (score >= `MATCH`) and beats the other by `MARGIN`;
  otherwise `correct` is None and `reason` says why. Ungraded answers are counted as
  such next to every accuracy, never as wrong answers in disguise.
- `correctness`: the strict match the rewards use.
A model can grade instead (`debate.analysis.model_grading`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from rapidfuzz import fuzz

AGREE, DISAGREE = "Agree", "Disagree"
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_ANSWER = re.compile(r"(?im)(?:final\s+)?answer\s*(?:is)?\s*[:\-]\s*\**\s*(.+)$")
_STANCE = re.compile(r"(?i)^\W*(?:i\s+)?(agree|disagree)\b")
_BARE_LABEL = re.compile(
    r"(?i)^(?:(?:the\s+)?(?:correct\s+|final\s+|my\s+)?(?:answer|option|choice)\s*(?:is\s*)?[:\-]?\s*)?"
    r"\(?\s*([A-Z])\s*\)?[.!]?$"
)
_LABELLED_TEXT = re.compile(r"^\(?([A-Z])\)?\s*[.:)\-]\s+(\S.*)$", re.S)
_WORD = re.compile(r"[a-z0-9]+")
# fmt: off
STOPWORDS = frozenset([
    "a", "an", "the", "of", "in", "on", "at", "to", "for", "from", "by", "with", "and",
    "or", "but", "is", "are", "was", "were", "be", "been", "being", "it", "its", "this",
    "that", "these", "those", "as", "do", "does", "did", "than", "then", "so", "if", "into",
    "about", "there", "their", "they", "them", "i", "you", "he", "she", "we", "my", "your",
    "his", "her", "our", "what", "which", "who", "whom", "why", "how", "when", "where",
    "will", "would", "can", "could", "should", "may", "might", "must", "has", "have", "had",
    "just", "very", "also", "only", "any", "some", "all", "more", "most", "because",
    "since", "such", "think", "believe", "guess", "answer", "probably", "likely",
    "actually", "really", "im",
])
# fmt: on
MATCH = 0.6  # a reference matches when its score reaches this
MARGIN = 0.15  # and beats the best of the other side by this much


def normalise(text: str) -> str:
    """Lower case, no punctuation or articles, single spaces."""
    text = re.sub(r"[^\w\s]", " ", text.lower())
    return " ".join(_ARTICLES.sub(" ", text).split())


def extract_answer(text: str | None) -> str | None:
    """The whole answer a turn gives (see the module docstring)."""
    if not text or not text.strip():
        return None
    found = _ANSWER.findall(text)
    if found:
        answer = found[-1]
    else:
        stance = _STANCE.match(text)
        if stance:
            return AGREE if stance.group(1).lower() == "agree" else DISAGREE
        answer = text
    answer = answer.strip().strip("*\"'` ").rstrip(".!").strip()
    stance = _STANCE.match(answer)
    if stance and len(answer.split()) <= 3:
        return AGREE if stance.group(1).lower() == "agree" else DISAGREE
    return answer or None


def _stem(word: str) -> str:
    for suffix in ("ing", "edly", "ed", "ly", "es", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


_NEGATORS = frozenset(
    [  # fmt: skip
        "not",
        "no",
        "never",
        "none",
        "nothing",
        "nobody",
        "neither",
        "nor",
        "cannot",
        "without",
        "t",
        "isn",
        "aren",
        "wasn",
        "doesn",
    ]
)
NEGATION_REACH = 4  # words after a negator that it covers


def _analyse(text: str) -> dict[str, bool]:
    """Content-word stems of a text -> whether a negator shortly before covers them."""
    words = _WORD.findall(text.lower())
    found: dict[str, bool] = {}
    reach = 0
    for word in words:
        covered = reach > 0
        if word in _NEGATORS:
            reach = NEGATION_REACH
            if word in ("t", "not"):
                continue
            covered = True
        reach = max(0, reach - 1)
        if word in STOPWORDS:
            continue
        stem = _stem(word)
        found[stem] = found.get(stem, False) or covered
    return found


def content_words(text: str) -> list[str]:
    return list(_analyse(text))


def _same(a: str, b: str) -> bool:
    return a == b or (min(len(a), len(b)) >= 5 and fuzz.ratio(a, b) >= 85)


def _without(words: dict[str, bool], shared: frozenset[str]) -> dict[str, bool]:
    kept = {w: n for w, n in words.items() if not any(_same(w, s) for s in shared)}
    return kept if kept else words


_CAPITALISED = re.compile(r"(?<![.!?:]\s)(?<!^)\b([A-Z][A-Za-z]*)")


def _names(text: str) -> set[str]:
    """Stems of capitalised words not opening a sentence (places, people, works)."""
    return {_stem(word.lower()) for word in _CAPITALISED.findall(text.strip())}


def _overlap(said: dict[str, bool], ref: dict[str, bool]) -> tuple[float, int, int]:
    """(score, matched pairs, pairs of opposite polarity) of two word maps."""
    pairs = [(w, s) for w in ref for s in said if _same(w, s)]
    if not pairs:
        return 0.0, 0, 0
    covered = len({w for w, _ in pairs}) / len(ref)
    explained = len({s for _, s in pairs}) / len(said)
    opposite = sum(1 for w, s in pairs if ref[w] != said[s])
    return 0.75 * covered + 0.25 * explained, len(pairs), opposite


def similarity(answer: str, reference: str, shared: frozenset[str] = frozenset()) -> float:
    """How well a free-text answer states a reference answer, 0..1 (see `evidence`)."""
    return evidence(answer, reference, shared)[0]


def evidence(
    answer: str, reference: str, shared: frozenset[str] = frozenset()
) -> tuple[float, float]:
    """(for, against): how well an answer states a reference, and how well it states the
    reference's opposite, each 0..1.

    `for` is 3/4 the share of the reference's words the answer uses plus 1/4 the share
    of the answer's words the reference uses, counting only words that tell references
    apart (not those in `shared`: the question's, and those every reference uses), and
    halved when a matched word is negated on one side only, and again when the reference
    names someone or somewhere (a capitalised word) the answer does not. `against` is the same
    measure over all words when most matched words are negated on one side only: "brown
    sugar is healthier" states the opposite of "No, brown sugar is not healthier"."""
    if normalise(answer) == normalise(reference):
        return 1.0, 0.0
    said_all, ref_all = _analyse(answer), _analyse(reference)
    said, ref = _without(said_all, shared), _without(ref_all, shared)
    if ref is ref_all:  # the reference is all shared words: compare everything
        said = said_all
    if not said or not ref:
        return 0.0, 0.0
    score, pairs, opposite = _overlap(said, ref)
    if opposite:
        score *= 0.5
    names = {n for n in _names(reference) if n in ref}
    if names and not any(_same(n, s) for n in names for s in said):
        score *= 0.5  # the reference names someone or somewhere the answer does not
    whole, whole_pairs, whole_opposite = _overlap(said_all, ref_all)
    against = whole if whole_pairs and 2 * whole_opposite >= whole_pairs else 0.0
    return score, against


@dataclass(frozen=True)
class Gold:
    """What counts as right for one question: answer lists and the shown options.
    `options` is empty when the protocol showed none (labels are then never read)."""

    correct: tuple[str, ...]
    incorrect: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    correct_index: int | None = None
    question: str = ""

    @cached_property
    def shared_words(self) -> frozenset[str]:
        """Words that do not tell the reference answers apart."""
        references = [set(content_words(r)) for r in (*self.correct, *self.incorrect)]
        common = set.intersection(*references) if len(references) > 1 else set()
        return frozenset(common | set(content_words(self.question)))

    @classmethod
    def from_scenario(
        cls,
        answers: Sequence[str],
        correct_index: int | None,
        fields: dict[str, Any],
        options_shown: bool = True,
        question: str = "",
    ) -> Gold:
        correct = [str(a) for a in fields.get("correct_answers") or []]
        incorrect = [str(a) for a in fields.get("incorrect_answers") or []]
        for i, option in enumerate(answers):
            target = correct if i == correct_index else incorrect
            if str(option) not in target:
                target.append(str(option))
        shown = tuple(str(a) for a in answers) if options_shown else ()
        return cls(
            tuple(correct), tuple(incorrect), shown, correct_index if shown else None, question
        )


@dataclass(frozen=True)
class Grade:
    correct: bool | None
    key: str | None
    reason: str  # option, match, no answer, stance, no match, ambiguous

    @property
    def graded(self) -> bool:
        return self.correct is not None


def bare_label(text: str) -> str | None:
    """The letter of a reply that is only a label (`B`, `(B)`, `Option B`, `The answer is
    B.`), else None."""
    found = _BARE_LABEL.match(text.strip())
    return found.group(1) if found and found.group(1).isupper() else None


def read_option(answer: str, options: Sequence[str]) -> int | None:
    """The index of the option the text clearly chooses, else None."""
    if not options:
        return None
    text = answer.strip()
    bare = _BARE_LABEL.match(text)
    if bare:
        index = ord(bare.group(1).upper()) - ord("A")
        return index if bare.group(1).isupper() and 0 <= index < len(options) else None
    labelled = _LABELLED_TEXT.match(text)
    if labelled:
        index = ord(labelled.group(1)) - ord("A")
        if 0 <= index < len(options):
            rest = labelled.group(2)
            scores = [similarity(rest, option) for option in options]
            if scores[index] >= 0.8 and all(
                scores[index] > s for i, s in enumerate(scores) if i != index
            ):
                return index
    return None


def _option_key(answer: str, options: Sequence[str]) -> str | None:
    scores = [similarity(answer, option) for option in options]
    if not scores:
        return None
    top = max(range(len(scores)), key=lambda i: scores[i])
    if scores[top] >= 0.8 and scores.count(scores[top]) == 1:
        return f"option:{top}"
    return None


def strip_label(answer: str) -> str:
    """`A: some text` -> `some text` (a leading label that did not read as a choice)."""
    labelled = _LABELLED_TEXT.match(answer.strip())
    return labelled.group(2).strip() if labelled else answer


def grade_answer(answer: str | None, gold: Gold) -> Grade:
    """Grade a whole answer against the gold lists (see the module docstring)."""
    if not answer or not answer.strip():
        return Grade(None, None, "no answer")
    if answer in (AGREE, DISAGREE):
        return Grade(None, None, "stance")
    option = read_option(answer, gold.options)
    if option is not None:
        correct = None if gold.correct_index is None else option == gold.correct_index
        return Grade(correct, f"option:{option}", "option")
    text = strip_label(answer)
    norm = normalise(text)
    if not norm:
        return Grade(None, None, "no answer")
    key = _option_key(text, gold.options) or norm
    shared = gold.shared_words
    for_correct = [evidence(text, c, shared) for c in gold.correct]
    for_incorrect = [evidence(text, c, shared) for c in gold.incorrect]
    # stating the opposite of a reference is evidence for the other side
    right = max([f for f, _ in for_correct] + [a for _, a in for_incorrect], default=0.0)
    wrong = max([f for f, _ in for_incorrect] + [a for _, a in for_correct], default=0.0)
    if max(right, wrong) < MATCH:
        return Grade(None, key, "no match")
    if abs(right - wrong) < MARGIN:
        return Grade(None, key, "ambiguous")
    return Grade(right > wrong, key, "match")


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
