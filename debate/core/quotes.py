"""Quotes in speeches: extraction, verification against the story, and the judge's rendering.

Speakers quote the story as ``<quote>…</quote>``. This module owns:

- finding those quotes in a speech (nested tags collapse into the outermost pair; an
  unclosed ``<quote>`` or a stray ``</quote>`` is not a quote);
- verifying each quote against the story in one of three modes (`QuoteMode`):
  ``exact`` (plain substring), ``normalised`` (case, whitespace, punctuation, curly
  quotes, dashes and accents ignored; the match must start and end on word
  boundaries of the story) or ``fuzzy`` (best partial alignment with rapidfuzz on the
  normalised text, at least ``threshold`` similarity);
- `StoryIndex`, the normalised story, built once per story text and cached;
- `neutralise`, which defangs text imitating the judge's verification markers
  (``<v_quote>``, ``<u_quote>`` in any case, spacing or bracket variant), so a
  debater cannot forge a verified quote;
- `render_for_judge`, the one call the engine makes for the judge's view: it checks
  the quotes and returns the neutralised speech in which each verified quote reads
  ``<v_quote>…</v_quote>`` and each unverified one ``<u_quote>…</u_quote>``;
- `nyu_speech_text`, which rebuilds a recorded NYU speech into text with quote tags.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel
from rapidfuzz import fuzz

from debate.core.speeches import normalise_speech
from debate.core.treebank import span_text

QuoteMode = Literal["exact", "normalised", "fuzzy"]
QUOTE_MODES: tuple[QuoteMode, ...] = ("exact", "normalised", "fuzzy")

VERIFIED_OPEN, VERIFIED_CLOSE = "<v_quote>", "</v_quote>"
UNVERIFIED_OPEN, UNVERIFIED_CLOSE = "<u_quote>", "</u_quote>"

# Characters a reader (or a language model) does not see, allowed inside a forged tag.
_INVISIBLE = r"[\s\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufeff]"
_LT = r"(?:<|\uff1c|\u2039|\u3008|\u27e8|\ufe64|&lt;?|&#0*60;|&#x0*3c;)"
_GT = r"(?:>|\uff1e|\u203a|\u3009|\u27e9|\ufe65|&gt;?|&#0*62;|&#x0*3e;)"
# <v_quote>, </ U-Quote >, <v quote attr="x">, ＜v_quote＞, &lt;v_quote&gt; ...
_MARKER = re.compile(
    rf"(?P<open>{_LT})(?P<body>{_INVISIBLE}*[/\\]?{_INVISIBLE}*[vu](?:[_\-.:]|{_INVISIBLE})*"
    rf"quote\w*(?:{_INVISIBLE}[^<>\n]*?)?{_INVISIBLE}*)(?P<close>{_GT})",
    re.IGNORECASE,
)
_MAY_HOLD_TAG = re.compile(rf"{_LT}|{_GT}|quote", re.IGNORECASE)
_QUOTE_TAG = re.compile(r"<\s*(?P<slash>/?)\s*quote\s*>", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+")


class QuoteCheck(BaseModel):
    """One ``<quote>…</quote>`` in a speech and whether the story supports it."""

    text: str
    """The quoted text (inner quote tags removed, surrounding whitespace stripped)."""
    verified: bool
    score: float
    """1.0 for an exact or normalised hit, the similarity (0..1) for fuzzy, else 0.0."""
    start: int
    """Character offset of the opening tag in the speech."""
    end: int
    """Character offset just past the closing tag in the speech."""


def normalise_text(text: str) -> str:
    """The text as `normalised` mode compares it: accents, case and non-alphanumerics gone."""
    return "".join(_WORD.findall(_fold(text)))


def _fold(text: str) -> str:
    # NFKD splits accents off (then dropped as non-alphanumeric) and maps look-alike
    # forms (full-width letters, ligatures) to plain ones; casefold handles ß and friends.
    return unicodedata.normalize("NFKD", text).casefold()


class StoryIndex:
    """The story prepared for fast checks: its text and its normalised form.

    Build with `StoryIndex.of(story)`, which caches by the story text, so the many
    debates over the same story share one index.
    """

    __slots__ = ("story", "normalised", "_word_starts", "_word_ends")

    def __init__(self, story: str) -> None:
        self.story = story
        parts: list[str] = []
        starts: set[int] = set()
        ends: set[int] = set()
        length = 0
        for word in _WORD.findall(_fold(story)):
            starts.add(length)
            length += len(word)
            ends.add(length)
            parts.append(word)
        self.normalised = "".join(parts)
        self._word_starts = frozenset(starts)
        self._word_ends = frozenset(ends)

    @classmethod
    def of(cls, story: str) -> StoryIndex:
        """The (cached) index of `story`."""
        return _cached_index(story)

    def contains_exact(self, quote: str) -> bool:
        """Plain substring check on the raw story text."""
        return bool(quote) and quote in self.story

    def contains_normalised(self, quote: str) -> bool:
        """Whether the quote occurs in the story ignoring case, spacing and punctuation.

        The hit must begin at the start of a story word and end at the end of one, so
        "art of" does not verify against "heart of". A quote with no letters or digits
        at all (say a lone dash) falls back to the exact check.
        """
        needle = normalise_text(quote)
        if not needle:
            return self.contains_exact(quote.strip())
        haystack = self.normalised
        position = haystack.find(needle)
        while position != -1:
            if position in self._word_starts and position + len(needle) in self._word_ends:
                return True
            position = haystack.find(needle, position + 1)
        return False

    def fuzzy_score(self, quote: str) -> float:
        """Similarity (0..1) of the quote to its best-matching stretch of the story."""
        if self.contains_normalised(quote):
            return 1.0
        needle = normalise_text(quote)
        if not needle or not self.normalised:
            return 0.0
        if len(needle) >= len(self.normalised):
            return fuzz.ratio(needle, self.normalised) / 100.0
        return fuzz.partial_ratio(needle, self.normalised) / 100.0

    def check(
        self, quote: str, mode: QuoteMode = "normalised", threshold: float = 0.9
    ) -> tuple[bool, float]:
        """(verified, score) for one quote's text."""
        quote = quote.strip()
        if not quote:
            return False, 0.0
        if mode == "exact":
            hit = self.contains_exact(quote)
            return hit, 1.0 if hit else 0.0
        if mode == "normalised":
            hit = self.contains_normalised(quote)
            return hit, 1.0 if hit else 0.0
        if mode == "fuzzy":
            score = self.fuzzy_score(quote)
            return score >= threshold, score
        raise ValueError(f"unknown quote mode {mode!r}; expected one of {', '.join(QUOTE_MODES)}")


@lru_cache(maxsize=512)
def _cached_index(story: str) -> StoryIndex:
    return StoryIndex(story)


def _quote_spans(speech: str) -> list[tuple[int, int, str]]:
    """The outermost well-formed quote pairs as (start, end, inner text), in order.

    Tags pair up like brackets. A pair inside another pair is folded into the outer one
    (its tags dropped from the text); an opening tag never closed and a closing tag
    never opened are strays, not quotes.
    """
    stack: list[re.Match[str]] = []
    pairs: list[tuple[re.Match[str], re.Match[str]]] = []
    for tag in _QUOTE_TAG.finditer(speech):
        if not tag.group("slash"):
            stack.append(tag)
        elif stack:
            pairs.append((stack.pop(), tag))
    quotes: list[tuple[int, int, str]] = []
    # Inner pairs close before their outer pair, so sort by start and skip the contained.
    for opening, closing in sorted(pairs, key=lambda pair: pair[0].start()):
        if quotes and opening.start() < quotes[-1][1]:
            continue
        inner = _QUOTE_TAG.sub("", speech[opening.end() : closing.start()])
        quotes.append((opening.start(), closing.end(), inner.strip()))
    return quotes


def _check_threshold(threshold: float) -> None:
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"quote threshold must be between 0 and 1, got {threshold}")


def check_quotes(
    speech: str, story: str | None, mode: QuoteMode = "normalised", threshold: float = 0.9
) -> list[QuoteCheck]:
    """Every quote in `speech`, in order, checked against `story`.

    With no story (or an empty one) every quote is unverified. Empty quotes are
    unverified. `threshold` (0..1) only matters in ``fuzzy`` mode.
    """
    _check_threshold(threshold)
    if mode not in QUOTE_MODES:
        raise ValueError(f"unknown quote mode {mode!r}; expected one of {', '.join(QUOTE_MODES)}")
    index = StoryIndex.of(story) if story else None
    checks: list[QuoteCheck] = []
    for start, end, text in _quote_spans(speech):
        verified, score = index.check(text, mode, threshold) if index else (False, 0.0)
        checks.append(QuoteCheck(text=text, verified=verified, score=score, start=start, end=end))
    return checks


def _defang(match: re.Match[str]) -> str:
    return f"[{match.group('body')}]"


def neutralise(speech: str) -> str:
    """Defang text imitating the judge's markers: ``<v_quote>`` reads ``[v_quote]``.

    Any case, spacing, invisible characters, attributes, and look-alike or
    HTML-escaped angle brackets count. Other text is left unchanged.
    """
    return _MARKER.sub(_defang, speech)


def render_checks(speech: str, checks: Sequence[QuoteCheck]) -> str:
    """The judge's view of a speech whose quotes were already checked (e.g. a replay).

    Each checked quote becomes ``<v_quote>text</v_quote>`` or ``<u_quote>text</u_quote>``;
    stray ``<quote>`` tags read ``[quote]``; everything else is `neutralise`d, so the
    only markers in the result are the ones written here.
    """
    # One cell per character of speech text, one cell per tag written here. Markers are
    # then searched in the speech text alone, so forged pieces on either side of one of
    # our tags (say "<" + "<u_quote></u_quote>" + "v_quote>") are caught as well.
    cells: list[str] = []
    text_cells: list[int] = []

    def add_text(text: str) -> None:
        for char in _defang_quote_tags(_decoded(text)):
            text_cells.append(len(cells))
            cells.append(char)

    cursor = 0
    for check in sorted(checks, key=lambda c: c.start):
        if check.start < cursor:
            raise ValueError("quote checks overlap; pass the checks of this speech")
        add_text(speech[cursor : check.start])
        cells.append(VERIFIED_OPEN if check.verified else UNVERIFIED_OPEN)
        add_text(check.text)
        cells.append(VERIFIED_CLOSE if check.verified else UNVERIFIED_CLOSE)
        cursor = check.end
    add_text(speech[cursor:])
    plain = "".join(cells[i] for i in text_cells)
    for marker in _MARKER.finditer(plain):
        for group, bracket in (("open", "["), ("close", "]")):
            first, last = marker.span(group)
            cells[text_cells[first]] = bracket
            for position in range(first + 1, last):
                cells[text_cells[position]] = ""
    return "".join(cells)


def _decoded(text: str) -> str:
    """HTML entities decoded, so `&lt;v_quote&gt;` is seen (and defanged) as the tag it
    would read as; decoding may yield new invisible or look-alike characters."""
    return normalise_speech(html.unescape(text)) if "&" in text else text


def _defang_quote_tags(text: str) -> str:
    return _QUOTE_TAG.sub(lambda m: "[" + m.group(0)[1:-1] + "]", text)


def render_for_judge(
    speech: str, story: str | None, mode: QuoteMode = "normalised", threshold: float = 0.9
) -> tuple[str, list[QuoteCheck]]:
    """Check the speech's quotes against `story` and render it for the judge.

    Returns (text, checks): the neutralised speech with each quote marked verified
    (``<v_quote>``) or unverified (``<u_quote>``), and the checks in speech order.
    """
    checks = check_quotes(speech, story, mode, threshold)
    return render_checks(speech, checks), checks


def shown_to_judge(speech: str, checks: Sequence[QuoteCheck]) -> str:
    """`render_checks`, with a fast path for the common speech that holds nothing that
    could read as a tag."""
    if not checks and "&" not in speech and not _MAY_HOLD_TAG.search(speech):
        return speech
    return render_checks(speech, checks)


def nyu_speech_text(content: Sequence[Mapping[str, Any]], tokens: Sequence[str]) -> str:
    """Rebuild a recorded NYU speech into text with ``<quote>…</quote>`` tags.

    `content` is the speech's list of ``{"Text": {"text": ...}}`` and
    ``{"Quote": {"span": [a, b]}}`` parts; a span indexes the story's PTB `tokens`
    [a, b) and is clipped to them. Unknown parts raise ValueError.
    """
    pieces: list[str] = []
    for number, part in enumerate(content):
        if "Text" in part:
            pieces.append(str(part["Text"]["text"]))
        elif "Quote" in part:
            start, end = (int(x) for x in part["Quote"]["span"])
            start, end = max(0, start), min(len(tokens), end)
            quoted = span_text(tokens, start, end) if start < end else ""
            pieces.append(f"<quote>{quoted}</quote>")
        else:
            raise ValueError(f"speech content[{number}]: expected 'Text' or 'Quote', got {part!r}")
    return "".join(pieces)
