"""Reading a choice label's distribution at the generated position that emits the label.

A judge asked to reply `Answer: X` emits the label after the answer prefix, not at the
first generated token: the first token is `Answer` (or `<think>` for a thinking model),
and the labels sit, if at all, in the tail of its alternatives, where renormalising over
them gives a confident-looking but meaningless probability. This module finds the
position where the label is produced and reads the labels' log-probabilities there:

- the reply is split into its generated tokens, each with its alternatives, from either
  shape servers send (`token_positions`): the chat shape (`content[]` with
  `top_logprobs` lists) or the legacy completions shape (`tokens`, `token_logprobs`,
  `top_logprobs` dicts), which some servers return on their chat endpoint;
- a thinking block counts only once closed: positions before the last `</think>` are
  skipped, and an unclosed one yields nothing;
- the label position is the first position whose preceding text ends with the answer
  prefix (case, whitespace and markdown emphasis ignored) and whose token is a label; if
  no such position emits a label, the first position after the prefix (a label may still
  be among its alternatives); with a prefilled turn, the prefill counts as preceding text,
  so the label position is the first generated token;
- without an answer prefix, the first generated token after any closed think block.

At that position a token counts as a label when it equals the label once whitespace and
markdown or bracket characters around it are removed (so `" A"`, `"A"` and `"**A"`
combine by logsumexp). `label_mass` is the total probability of those tokens before
renormalising; a low mass tells the caller that the labels were not what the model was
about to say there. A label missing from the listed alternatives gets the smallest
listed log-probability, an upper bound on its true value, so a reading is never more
confident than the alternatives show.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from debate.models.openai_parse import get

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
_EMPHASIS = re.compile(r"[*_#`]+")
_SPACES = re.compile(r"\s+")
_OPENERS = "([{\"'"


@dataclass(slots=True)
class TokenPosition:
    """One generated token, its log-probability and the alternatives listed for it."""

    token: str
    logprob: float | None
    alternatives: list[tuple[str, float]]


@dataclass(slots=True)
class LabelReading:
    """Where and how the labels were read; `logprobs` is None when they could not be."""

    logprobs: dict[str, float] | None
    mass: float | None
    position: int | None
    note: str | None = None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) or number == -math.inf else None


def token_positions(logprobs: Any) -> list[TokenPosition]:
    """The generated tokens of a `logprobs` object, in the chat or the legacy shape."""
    content = get(logprobs, "content")
    positions: list[TokenPosition] = []
    if content:
        for entry in content:
            alternatives = []
            for alt in get(entry, "top_logprobs") or []:
                value = _number(get(alt, "logprob"))
                if value is not None and get(alt, "token") is not None:
                    alternatives.append((str(get(alt, "token")), value))
            token = get(entry, "token")
            positions.append(
                TokenPosition(
                    "" if token is None else str(token),
                    _number(get(entry, "logprob")),
                    alternatives,
                )
            )
        return positions
    tokens = get(logprobs, "tokens")
    if not isinstance(tokens, list):
        return positions
    values = get(logprobs, "token_logprobs") or []
    tops = get(logprobs, "top_logprobs") or []
    for index, token in enumerate(tokens):
        top = tops[index] if index < len(tops) else None
        alternatives = []
        if isinstance(top, dict):
            for alt_token, alt_value in top.items():
                value = _number(alt_value)
                if value is not None:
                    alternatives.append((str(alt_token), value))
        logprob = _number(values[index]) if index < len(values) else None
        positions.append(TokenPosition(str(token), logprob, alternatives))
    return positions


def label_of(token: str, labels: Sequence[str]) -> str | None:
    """The label a token spells (`" A"`, `"A"`, `"**A"`, `"(A"`), or None."""
    core = token.strip().strip("*_`").lstrip(_OPENERS).rstrip(")]}.,:;\"'").strip()
    return core if core in labels else None


def _normalise(text: str) -> str:
    return _SPACES.sub(" ", _EMPHASIS.sub("", text)).lower()


def _prefix_pattern(prefix: str) -> re.Pattern[str]:
    wanted = _normalise(prefix).strip()
    # the prefix at the end of the preceding text, then only spaces or opening brackets
    chars = [re.escape(char) for char in wanted if not char.isspace()]
    return re.compile(r"\s?".join(chars) + r"[\s" + re.escape(_OPENERS) + r"]*$")


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    if top == -math.inf:
        return top
    return top + math.log(sum(math.exp(v - top) for v in values))


def read_labels(
    positions: Sequence[TokenPosition],
    labels: Sequence[str],
    answer_prefix: str | None = None,
    prefill: str = "",
) -> LabelReading:
    """Find the label position of a reply and read the labels' distribution there.

    `prefill` is assistant text the reply continues (a prefilled turn), which counts as
    text before the first generated token.
    """
    if not labels:
        return LabelReading(None, None, None, "no labels asked for")
    if not positions:
        return LabelReading(None, None, None, "the server returned no token log-probabilities")
    index = _label_position(positions, labels, answer_prefix, prefill)
    if isinstance(index, str):
        return LabelReading(None, None, None, index)
    return _read_at(positions[index], labels, index)


def _label_position(
    positions: Sequence[TokenPosition],
    labels: Sequence[str],
    answer_prefix: str | None,
    prefill: str,
) -> int | str:
    """The label position, or a note saying why there is none."""
    offsets = [len(prefill)]  # offsets[i]: characters of text before token i
    for position in positions:
        offsets.append(offsets[-1] + len(position.token))
    full = prefill + "".join(position.token for position in positions)
    start = 0
    after_think = 0  # where the text that counts begins
    close = full.rfind(THINK_CLOSE)
    if close >= 0:
        after_think = close + len(THINK_CLOSE)
        start = next((i for i, o in enumerate(offsets) if o >= after_think), len(positions))
    elif THINK_OPEN in full:
        return "the reply's think block never closed"
    if not answer_prefix or not answer_prefix.strip():
        for i in range(start, len(positions)):
            if positions[i].token.strip():
                return i
        return "the reply has no token after its think block"
    pattern = _prefix_pattern(answer_prefix)
    tail = 4 * len(answer_prefix) + 40  # enough text before a position to hold the prefix
    first: int | None = None
    for i in range(start, len(positions)):
        before = full[max(after_think, offsets[i] - tail) : offsets[i]]
        if not pattern.search(_normalise(before)):
            continue
        if label_of(positions[i].token, labels) is not None:
            return i
        if first is None:
            first = i
    if first is not None:
        return first
    return f"no {answer_prefix.strip()!r} followed by a position to read in the reply"


def _read_at(position: TokenPosition, labels: Sequence[str], index: int) -> LabelReading:
    listed = dict(position.alternatives)
    if position.logprob is not None and position.token not in listed:
        listed[position.token] = position.logprob
    if len(position.alternatives) == 0:
        return LabelReading(
            None, None, index, "the server listed no alternatives at the label position"
        )
    found: dict[str, list[float]] = {}
    for token, logprob in listed.items():
        label = label_of(token, labels)
        if label is not None:
            found.setdefault(label, []).append(logprob)
    if not found:
        return LabelReading(None, 0.0, index, "no label among the label position's alternatives")
    raw = {label: _logsumexp(values) for label, values in found.items()}
    mass = sum(math.exp(value) for value in raw.values())
    floor = min(listed.values())
    for label in labels:
        raw.setdefault(label, floor)
    norm = _logsumexp(list(raw.values()))
    return LabelReading({label: raw[label] - norm for label in labels}, min(1.0, mass), index)


def probabilities_from_logprobs(
    logprobs: dict[str, float], labels: list[str]
) -> list[float] | None:
    """Renormalised probabilities of the labels (None when one has no finite log-probability)."""
    values = [logprobs.get(label) for label in labels]
    if any(value is None or not math.isfinite(value) for value in values):
        return None
    top = max(v for v in values if v is not None)
    weights = [math.exp(v - top) for v in values if v is not None]
    total = sum(weights)
    return [w / total for w in weights]
