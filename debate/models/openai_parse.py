"""Reading OpenAI chat-completion responses: fields and usage.

Works on parsed JSON dicts and on SDK objects alike (`get`), so the plain and the
streaming paths of `openai.py` share it. Label log-probabilities are read in
`label_reading.py`.
"""

from __future__ import annotations

from typing import Any

from debate.models.base import Usage


def get(obj: Any, key: str) -> Any:
    """A field of a parsed JSON dict or of an SDK object."""
    if obj is None:
        return None
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def usage_of(raw: Any) -> Usage:
    """A response's `usage`, with the cached part of the prompt where the server reports
    it (`prompt_tokens_details.cached_tokens`; absent or null counts as none cached)."""
    details = get(raw, "prompt_tokens_details")
    return Usage(
        prompt_tokens=int(get(raw, "prompt_tokens") or 0),
        completion_tokens=int(get(raw, "completion_tokens") or 0),
        cached_prompt_tokens=int(get(details, "cached_tokens") or 0),
    )
