"""Fallacy taxonomy: the nine LOGICOM fallacy classes and a rule table for free-text labels.

The fallacy helper names the fallacy it used in free text ("Appeal to Fear", "Bandwagon
Fallacy", "Strawman", "Post hoc ..."). `normalise_fallacy` maps such a label to one of the
nine classes of the LOGICOM study, or to `other`:

- the label is lower-cased; `_`, `-`, `/`, `(`, `)`, `:` and `,` become spaces;
- every class has a list of regular expressions (keywords and synonyms) matched on word
  boundaries;
- a label that spells out one of the nine class names maps to the class it names first
  ("Appeal to Emotion and False Dilemma" is appeal to emotion; "Flattery/Ad Hominem" is ad
  hominem: the helper was asked to pick from the nine, so the name it picked wins over a
  description);
- otherwise the synonym match that starts earliest wins (at the same position, the longer
  one), e.g. "Appeal to Fear" and "Flattery" are appeal to emotion;
- a label that matches nothing, including "None", "No fallacy used", "N/A", echoed
  template text and fallacies outside the nine (red herring, hasty generalisation,
  appeal to tradition, non sequitur, ...), is `other`.

The rules were written against the labels in LOGICOM's released debate logs
(`fallacy_turns.csv`) and are meant to generalise to labels a helper model produces.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

AD_HOMINEM = "ad hominem"
APPEAL_TO_EMOTION = "appeal to emotion"
FALSE_INFORMATION = "false information"
CAUSAL_FALLACY = "causal fallacy"
SLIPPERY_SLOPE = "slippery slope"
APPEAL_TO_AUTHORITY = "appeal to authority"
APPEAL_TO_POPULAR_OPINION = "appeal to popular opinion"
STRAW_MAN = "straw man"
FALSE_DILEMMA = "false dilemma"
OTHER = "other"

FALLACY_CLASSES: tuple[str, ...] = (
    AD_HOMINEM,
    APPEAL_TO_EMOTION,
    FALSE_INFORMATION,
    CAUSAL_FALLACY,
    SLIPPERY_SLOPE,
    APPEAL_TO_AUTHORITY,
    APPEAL_TO_POPULAR_OPINION,
    STRAW_MAN,
    FALSE_DILEMMA,
)
"""The nine classes the LOGICOM fallacy helper chooses from, in the paper's order."""

ALL_CLASSES: tuple[str, ...] = (*FALLACY_CLASSES, OTHER)
"""The nine classes plus `other`: every value `normalise_fallacy` can return."""

# Patterns are matched against the normalised label (lower case, punctuation -> spaces,
# single spaces). Each is wrapped in word boundaries, so "emotion" does not match inside
# "promotion"; use `\w*` to allow suffixes ("emotion\w*" covers emotional, emotions).
RULES: dict[str, tuple[str, ...]] = {
    AD_HOMINEM: (
        r"ad ?hominem",
        r"personal attacks?",
        r"attack\w* (on )?the (person|arguer|speaker|character)",
        r"character assassination",
        r"poisoning the well",
        r"tu quoque",
        r"name calling",
    ),
    APPEAL_TO_EMOTION: (
        r"emotion\w*",
        r"appeal to (fear|pity|sympathy|compassion|guilt|anger|hope|spite|ridicule)",
        r"fear mongering",
        r"scare tactics?",
        r"flatter\w*",
        r"ad misericordiam",
        r"ad metum",
        r"psychological manipulation",
        r"appeal to (respect|politeness|generosity|approval|urgency)",
    ),
    FALSE_INFORMATION: (
        r"false (information|facts?|statistics?|claims?|evidence)",
        r"misinformation",
        r"disinformation",
        r"fake (news|facts?|statistics?|information)",
        r"fabricat\w*",
        r"made up (facts?|statistics?|evidence)",
        r"incorrect (information|facts?)",
    ),
    CAUSAL_FALLACY: (
        r"causal\w*",
        r"false causes?",
        r"questionable cause",
        r"post hoc",
        r"cum hoc",
        r"non causa",
        r"correlation (implies|equals|is) causation",
        r"correlation causation",
    ),
    SLIPPERY_SLOPE: (r"slippery slopes?", r"domino (effect|fallacy)"),
    APPEAL_TO_AUTHORITY: (
        r"authorit\w*",
        r"ad verecundiam",
        r"appeal to (an )?experts?",
    ),
    APPEAL_TO_POPULAR_OPINION: (
        r"popular\w*",
        r"polularity",  # a misspelling present in the authors' logs
        r"bandwagon",
        r"ad populum",
        r"appeal to (the )?(majority|masses|people|common belief|common practice)",
        r"common practice",
        r"false consensus",
        r"consensus fallacy",
        r"everyone (does|believes|agrees)",
    ),
    STRAW_MAN: (
        r"straw ?man",
        r"straw ?men",
        r"misrepresent\w*",
    ),
    FALSE_DILEMMA: (
        r"false dilemma",
        r"fake dilemma",
        r"false dichotomy",
        r"false choice",
        r"either or( fallacy)?",
        r"black (and|or) white( fallacy| thinking)?",
        r"binary thinking",
    ),
}

_NAMES: list[tuple[str, re.Pattern[str]]] = [
    (cls, re.compile(r"\b" + r" ?".join(map(re.escape, cls.split())) + r"\b"))
    for cls in FALLACY_CLASSES
]
_SYNONYMS: list[tuple[str, re.Pattern[str]]] = [
    (cls, re.compile(rf"\b(?:{pattern})\b"))
    for cls, patterns in RULES.items()
    for pattern in patterns
]
_SEPARATORS = re.compile(r"[_\-/():,;.\"'`*\[\]]+")
_SPACES = re.compile(r"\s+")


def clean_label(label: str) -> str:
    """The label as the rules see it: lower case, punctuation as spaces, single spaces."""
    return _SPACES.sub(" ", _SEPARATORS.sub(" ", label.lower())).strip()


def normalise_fallacy(label: str | None) -> str:
    """Map a free-text fallacy label to one of `ALL_CLASSES` (see the module docstring)."""
    if not label:
        return OTHER
    text = clean_label(label)
    return _earliest(text, _NAMES) or _earliest(text, _SYNONYMS) or OTHER


def _earliest(text: str, rules: list[tuple[str, re.Pattern[str]]]) -> str | None:
    """The class of the match that starts first (the longer one at a tie), if any."""
    best: tuple[int, int, str] | None = None  # (start, -length, class)
    for cls, pattern in rules:
        match = pattern.search(text)
        if match is None:
            continue
        key = (match.start(), match.start() - match.end(), cls)
        if best is None or key[:2] < best[:2]:
            best = key
    return None if best is None else best[2]


def fallacy_distribution(labels: Iterable[str | None]) -> dict[str, int]:
    """Counts per class, every class of `ALL_CLASSES` present (zeros included), in order."""
    counts = dict.fromkeys(ALL_CLASSES, 0)
    for label in labels:
        counts[normalise_fallacy(label)] += 1
    return counts


def check_fallacy_class(name: str) -> str:
    """The canonical class for a user-given name (`--fallacy`), or ValueError.

    Accepts the class names themselves and any label the rules map to one of the nine
    classes ("strawman", "bandwagon"); `other` is not a class a helper can be told to use.
    """
    cls = normalise_fallacy(name)
    if cls == OTHER:
        choices = ", ".join(FALLACY_CLASSES)
        raise ValueError(f"unknown fallacy {name!r}; choose one of: {choices}")
    return cls
