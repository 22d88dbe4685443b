"""Paired comparisons: two conditions measured on the same items, with paired bootstrap CIs.

Two judges that judged the same debates, or two protocols run on the same questions, are
compared item by item: the difference of their outcomes on each item, averaged. The 95% CI
resamples whole questions and keeps both conditions' outcomes of a question together, so
the question-to-question spread that an unpaired comparison would add cancels out.

`paired_items` matches two lists of run records by a key (the unit id for judges on the
same debates; the question, variant and repeat for protocols), averaging a condition's
units that share a key; `paired_difference` turns the matched values into an estimate.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from debate.analysis.metrics import mean_estimate

RecordKey = Callable[[dict[str, Any]], Hashable]


@dataclass(frozen=True)
class PairedItems:
    """Matched outcomes: `a[i]` and `b[i]` belong to one item, resampled with `clusters[i]`."""

    a: list[float]
    b: list[float]
    clusters: list[Hashable]


def scored(record: dict[str, Any]) -> bool:
    """A record whose final verdict can be right or wrong (invalid verdicts count wrong)."""
    return record.get("final_verdict") is not None and record.get("correct_index") is not None


def unit_key(record: dict[str, Any]) -> Hashable:
    """The same unit (same debate, same answer order): judges on shared debates."""
    return str(record["id"])


def question_key(record: dict[str, Any]) -> Hashable:
    """The same question, variant and repeat (both answer orders averaged): protocols."""
    variant = json.dumps(record.get("variant") or {}, sort_keys=True)
    return (str(record["scenario_id"]), variant, int(record.get("repeat", 0)))


def question_cluster(record: dict[str, Any]) -> Hashable:
    """What a bootstrap resamples: the question (pooled records tag it with their set)."""
    return str(record.get("bench_cluster") or record["scenario_id"])


def paired_items(
    records_a: Sequence[dict[str, Any]],
    records_b: Sequence[dict[str, Any]],
    key: RecordKey,
    *,
    value: Callable[[dict[str, Any]], float] | None = None,
) -> PairedItems:
    """The items both conditions have a scored record for, in `records_a`'s order; a
    condition's value of an item is the mean over its records with that key."""
    measure = value or (lambda record: 1.0 if record.get("correct") else 0.0)

    def group(records: Sequence[dict[str, Any]]) -> dict[Hashable, list[dict[str, Any]]]:
        grouped: dict[Hashable, list[dict[str, Any]]] = defaultdict(list)
        for record in records:
            if scored(record):
                grouped[key(record)].append(record)
        return grouped

    first, second = group(records_a), group(records_b)
    shared = [item for item in first if item in second]

    def mean(records: list[dict[str, Any]]) -> float:
        return sum(measure(r) for r in records) / len(records)

    return PairedItems(
        a=[mean(first[item]) for item in shared],
        b=[mean(second[item]) for item in shared],
        clusters=[question_cluster(first[item][0]) for item in shared],
    )


def paired_difference(
    items: PairedItems, *, resamples: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """Mean of a - b over matched items with a 95% paired (cluster) bootstrap CI, the two
    means, and how many items only one condition got right (the discordant items)."""
    diffs = [x - y for x, y in zip(items.a, items.b, strict=True)]
    estimate = mean_estimate(diffs, clusters=items.clusters, resamples=resamples, seed=seed)
    n = len(diffs)
    return {
        "difference": estimate.as_dict(),
        "mean_a": sum(items.a) / n if n else None,
        "mean_b": sum(items.b) / n if n else None,
        "n": n,
        "questions": len(set(items.clusters)),
        "a_better": sum(1 for d in diffs if d > 0),
        "b_better": sum(1 for d in diffs if d < 0),
    }
