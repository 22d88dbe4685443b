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

The module also holds the fallacy-detection probe's data side: `detection_items` turns
the logged helper turns into nine-way classification items (the argument, the nine
classes, the gold class) and `detection_stats` scores a judge's verdicts per class.
"""

from __future__ import annotations

import csv
import random
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from debate.analysis.metrics import accuracy
from debate.errors import DebateInputError, where

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


# ---------------------------------------------------------------- fallacy-detection probe

TURN_COLUMNS = ("fallacy", "response")


def read_fallacy_turns(path: Path) -> list[dict[str, str]]:
    """Rows of a `fallacy_turns.csv` (LOGICOM helper turns), with their line numbers."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in TURN_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DebateInputError(where(path, "header", f"missing {', '.join(missing)}"))
            rows = []
            for line, row in enumerate(reader, start=2):
                if None in row:
                    raise DebateInputError(where(path, f"line {line}", "more fields than header"))
                rows.append({**{k: (v or "") for k, v in row.items()}, "_line": str(line)})
            return rows
    except FileNotFoundError as exc:
        raise DebateInputError(where(path, None, "no such file")) from exc
    except UnicodeDecodeError as exc:
        raise DebateInputError(where(path, None, f"not UTF-8 text ({exc.reason})")) from exc
    except csv.Error as exc:
        raise DebateInputError(where(path, None, f"malformed CSV ({exc})")) from exc


def detection_items(
    path: Path, *, per_class: int | None = None, seed: int = 0
) -> list[dict[str, Any]]:
    """JSONL-ready scenarios for the `fallacy-detection` protocol.

    Each usable row (a non-empty `response` whose label maps to one of the nine classes)
    becomes {id, question: the argument, answers: the nine classes, correct_index, label,
    ...}. `per_class` keeps a seeded sample of at most that many arguments per class, so a
    small run still covers every class; the order is stable for a given seed.
    """
    by_class: dict[str, list[dict[str, Any]]] = {cls: [] for cls in FALLACY_CLASSES}
    for row in read_fallacy_turns(path):
        cls = normalise_fallacy(row["fallacy"])
        argument = row["response"].strip()
        if cls == OTHER or not argument:
            continue
        ident = "-".join(x for x in (row.get("chat_id", ""), row.get("persuader_turn", "")) if x)
        by_class[cls].append(
            {
                "id": f"fallacy-{ident or 'line'}-{row['_line']}",
                "question": argument,
                "answers": list(FALLACY_CLASSES),
                "correct_index": FALLACY_CLASSES.index(cls),
                "label": row["fallacy"],
                "topic_id": row.get("topic_id", ""),
                "debater_model": row.get("debater_model", ""),
                "line": int(row["_line"]),
            }
        )
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []
    for cls in FALLACY_CLASSES:
        rows = by_class[cls]
        if per_class is not None and len(rows) > per_class:
            rows = sorted(rng.sample(rows, per_class), key=lambda item: item["line"])
        items.extend(rows)
    if not items:
        raise DebateInputError(where(path, None, "no argument with a label of the nine classes"))
    return items


def detection_stats(records: Iterable[dict[str, Any]], *, seed: int = 0) -> dict[str, Any]:
    """Judge accuracy per gold class (95% bootstrap CI), overall, and a confusion table.

    A record is correct when the judge's top choice (`final_verdict.chosen`) is the gold
    class. An invalid verdict, or a tie for the top probability, counts as wrong and shows
    as `invalid` or `no choice` in the confusion table.
    """
    outcomes: dict[str, list[bool]] = {cls: [] for cls in FALLACY_CLASSES}
    confusion: dict[str, dict[str, int]] = {cls: {} for cls in FALLACY_CLASSES}
    everything: list[bool] = []
    for record in records:
        answers, gold = record.get("answers") or [], record.get("correct_index")
        if not isinstance(gold, int) or not 0 <= gold < len(answers):
            continue
        cls = normalise_fallacy(answers[gold])
        final = record.get("final_verdict") or {}
        chosen = final.get("chosen")
        if not final.get("valid"):
            predicted = "invalid"
        elif isinstance(chosen, int) and 0 <= chosen < len(answers):
            predicted = normalise_fallacy(answers[chosen])
        else:
            predicted = "no choice"  # a tie for the highest probability
        ok = predicted == cls  # the judge's top choice, not a probability threshold
        outcomes.setdefault(cls, []).append(ok)
        everything.append(ok)
        row = confusion.setdefault(cls, {})
        row[predicted] = row.get(predicted, 0) + 1
    if not everything:
        raise DebateInputError("no fallacy-detection records (answers with a correct_index)")
    return {
        "accuracy": accuracy(everything, seed=seed).as_dict(),
        "per_class": {cls: accuracy(v, seed=seed).as_dict() for cls, v in outcomes.items()},
        "confusion": {cls: row for cls, row in confusion.items() if row},
        "invalid": sum(row.get("invalid", 0) for row in confusion.values()),
    }
