"""Reading OpenAI chat-completion responses: usage and choice log-probabilities.

Works on parsed JSON dicts and on SDK objects alike (`get`), so the plain and the
streaming paths of `openai.py` share it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from debate.models.base import Usage


def choice_logprobs_from_top(
    top: Sequence[tuple[str, float]], choices: Sequence[str]
) -> dict[str, float] | None:
    """Map choice labels to renormalised log-probabilities from one token's top list.

    A token matches a label when it equals the label after stripping whitespace
    (case-sensitive); variants such as "A" and " A" are combined by logsumexp.
    A label absent from the list gets the smallest listed logprob (an upper bound
    on its true value). Returns None when no label appears at all.
    """
    if not top or not choices:
        return None
    found: dict[str, list[float]] = {}
    for token, logprob in top:
        label = token.strip()
        if label in choices and math.isfinite(logprob):
            found.setdefault(label, []).append(logprob)
    if not found:
        return None
    floor = min(lp for _, lp in top if math.isfinite(lp))
    raw = {label: _logsumexp(found.get(label, [floor])) for label in choices}
    norm = _logsumexp(list(raw.values()))
    return {label: value - norm for label, value in raw.items()}


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def get(obj: Any, key: str) -> Any:
    """A field of a parsed JSON dict or of an SDK object."""
    if obj is None:
        return None
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def first_token_top(logprobs: Any) -> list[tuple[str, float]] | None:
    """The (token, logprob) alternatives of the first generated token, if present."""
    content = get(logprobs, "content")
    if not content:
        return None
    first = content[0]
    alternatives = get(first, "top_logprobs") or []
    pairs = [(str(get(alt, "token")), float(get(alt, "logprob"))) for alt in alternatives]
    if not pairs and get(first, "token") is not None:
        pairs = [(str(get(first, "token")), float(get(first, "logprob")))]
    return pairs or None


def usage_of(raw: Any) -> Usage:
    """A response's `usage`, with the cached part of the prompt where the server reports
    it (`prompt_tokens_details.cached_tokens`; absent or null counts as none cached)."""
    details = get(raw, "prompt_tokens_details")
    return Usage(
        prompt_tokens=int(get(raw, "prompt_tokens") or 0),
        completion_tokens=int(get(raw, "completion_tokens") or 0),
        cached_prompt_tokens=int(get(details, "cached_tokens") or 0),
    )
