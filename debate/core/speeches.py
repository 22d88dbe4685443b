"""Speeches as untrusted text: normalised before anything looks at them, and attributed
unambiguously when shown to another role.

A speech is model output. Before it is stored, checked or shown, `normalise_speech`
applies Unicode NFKC (full-width and other look-alike forms become plain characters)
and removes invisible and bidirectional control characters, so what a reader sees is
what every check sees. When another role's view shows a turn as `Speaker: text`, a
line inside the text that itself starts like a turn (`Judge: ...`, `Debater B: ...`,
or any speaker of the unit followed by a colon) is shown quoted, `> Judge: ...`: only
real turns begin a line with a speaker's name.

`speech_text` turns a completion into the speech it gives: the agent's `opening`
(continued by the model where the backend prefilled it, put in front of the reply where
it could not), then the reply, or the part of it inside the agent's `extract_tag`
(`extract_tagged`, e.g. `<argument>...</argument>`). `limit_words` enforces word limits.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from debate.models.base import Completion

# Zero-width, joiner, soft-hyphen and bidirectional control characters: they change how a
# text reads (or hide what it holds) without being seen.
_HIDDEN = dict.fromkeys(
    [0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFEFF, 0xFFA0]
    + list(range(0x200B, 0x2010))
    + list(range(0x202A, 0x202F))
    + list(range(0x2060, 0x2070))
    + list(range(0xFE00, 0xFE10))
    + list(range(0xFFF0, 0xFFF9))
)


def normalise_speech(text: str) -> str:
    """A speech as everything downstream sees it: Unicode NFKC (full-width and other
    look-alike forms become plain characters) with invisible and bidirectional
    control characters removed."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", text).translate(_HIDDEN)


# Words a forged turn would start with, besides the names of the unit's speakers.
GENERIC_SPEAKERS = (
    "judge",
    "debater",
    "consultant",
    "moderator",
    "system",
    "user",
    "assistant",
    "human",
    "ai",
    "narrator",
    "agent",
    "persuader",
    "critic",
    "speaker",
    "player",
    "host",
)


@lru_cache(maxsize=256)
def _turn_start(names: tuple[str, ...]) -> re.Pattern[str]:
    words = sorted({*GENERIC_SPEAKERS, *(n.lower() for n in names if n)}, key=len, reverse=True)
    alternatives = "|".join(re.escape(word).replace(r"\ ", r"[ \t_]+") for word in words)
    return re.compile(rf"^(?=[ \t>]*(?:{alternatives})\b[^:\n]{{0,30}}:)", re.I | re.M)


def speaker_pattern(names: Iterable[str]) -> re.Pattern[str]:
    """Lines that start like a turn of one of `names` (or of a generic speaker)."""
    return _turn_start(tuple(sorted({name.replace("_", " ") for name in names})))


def quote_turn_lines(text: str, pattern: re.Pattern[str]) -> str:
    """The text with every line that starts like a turn shown quoted (`> `)."""
    return pattern.sub("> ", text) if ":" in text else text


_TAG_CACHE: dict[str, re.Pattern[str]] = {}


def extract_tagged(text: str, tag: str) -> str:
    pattern = _TAG_CACHE.get(tag)
    if pattern is None:
        pattern = re.compile(rf"<{re.escape(tag)}>(.*?)(?:</{re.escape(tag)}>|$)", re.S | re.I)
        _TAG_CACHE[tag] = pattern
    found = pattern.search(text)
    return found.group(1).strip() if found else text.strip()


_WORD_SPAN = re.compile(r"\S+")


def limit_words(text: str, limit: int | None) -> tuple[str, bool]:
    """The text cut after its `limit`-th word (words split on any whitespace), keeping
    the text's own spacing and line breaks; and whether it was cut."""
    if limit is None or len(text.split()) <= limit:
        return text, False
    if limit <= 0:
        return "", True
    for count, word in enumerate(_WORD_SPAN.finditer(text), 1):
        if count == limit:
            return text[: word.end()], True
    return text, False


def speech_text(completion: Completion, opening: str = "", extract_tag: str | None = None) -> str:
    """The speech a completion gives (before any word limit), see the module docstring."""
    if extract_tag:
        return extract_tagged(completion.text, extract_tag)
    if not opening:
        return completion.text.strip()
    if completion.prefill == opening:  # the model continued the opening
        return (opening + completion.text).strip()
    reply = completion.text.strip()
    joiner = "" if not reply or opening[-1].isspace() else " "
    return (opening + joiner + reply).strip()
