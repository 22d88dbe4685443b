"""Rebuild readable text from Penn-Treebank-style tokens (as in QuALITY / the NYU debates).

`detokenize` returns the text and, for every token, its character offset, so a
token span [a, b) from a recorded speech maps to a substring of the story.
"""

from __future__ import annotations

from collections.abc import Sequence

_REPLACEMENTS = {
    "-LSB-": "[",
    "-RSB-": "]",
    "-LRB-": "(",
    "-RRB-": ")",
    "-LCB-": "{",
    "-RCB-": "}",
    "``": '"',
    "''": '"',
    "`": "'",
}
_OPENERS = {"``", "`", "-LSB-", "-LRB-", "-LCB-"}
_NO_SPACE_BEFORE = {".", ",", "?", "!", ";", ":", "...", "''", "%", "-RSB-", "-RRB-", "-RCB-"}
_CLITICS = (
    "'s",
    "n't",
    "'d",
    "'ll",
    "'m",
    "'re",
    "'ve",
    "'S",
    "N'T",
    "'D",
    "'LL",
    "'M",
    "'RE",
    "'VE",
)


def _attaches_left(token: str) -> bool:
    if token in _NO_SPACE_BEFORE or token in _CLITICS:
        return True
    # combined punctuation tokens such as `?"` or `....`, but not numbers like `.38`
    return token[:1] in ".,;:?!%" and not token[1:2].isdigit()


def detokenize(tokens: Sequence[str]) -> tuple[str, list[int]]:
    """Join tokens into text. Returns (text, starts) with starts[i] = offset of token i.

    `starts` has one extra entry, len(text), so token i is text[starts[i]:...] and the
    speech quote span [a, b) covers roughly text[starts[a]:starts[b]].
    """
    parts: list[str] = []
    starts: list[int] = []
    length = 0
    previous: str | None = None
    for token in tokens:
        piece = _REPLACEMENTS.get(token, token)
        needs_space = not (
            previous is None
            or token == "\n"
            or previous == "\n"
            or previous in _OPENERS
            or _attaches_left(token)
        )
        if needs_space:
            parts.append(" ")
            length += 1
        starts.append(length)
        parts.append(piece)
        length += len(piece)
        previous = token
    starts.append(length)
    return "".join(parts), starts


def span_text(tokens: Sequence[str], start: int, end: int) -> str:
    """The readable text of tokens[start:end], as a speaker quoting them would write it."""
    text, _ = detokenize(tokens[start:end])
    return text.strip()
