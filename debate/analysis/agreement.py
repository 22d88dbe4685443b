"""Agreement between raters who labelled the same items: Cohen's and Fleiss' kappa.

A rating is any hashable label (an answer index, or "invalid"). Kappa compares the
observed agreement with the agreement the raters' label frequencies give by chance:
1 is perfect, 0 is chance level, below 0 is worse than chance. It is undefined (None)
when chance agreement is already 1 (every rating is the same label). Each estimate gets
a 95% percentile bootstrap CI over items, drawn from a seeded generator.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Sequence

import numpy as np

from debate.analysis.metrics import Estimate, percentile_interval

Rating = Hashable


def cohen_kappa(first: Sequence[Rating], second: Sequence[Rating]) -> float | None:
    """Cohen's kappa of two raters over the same items (in the same order)."""
    if len(first) != len(second):
        raise ValueError(f"{len(first)} ratings against {len(second)}")
    n = len(first)
    if n == 0:
        return None
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    counts_a, counts_b = Counter(first), Counter(second)
    chance = sum(counts_a[label] * counts_b[label] for label in counts_a) / (n * n)
    if chance >= 1.0:
        return None
    return (observed - chance) / (1.0 - chance)


def fleiss_kappa(items: Sequence[Sequence[Rating]]) -> float | None:
    """Fleiss' kappa: each item rated by the same number (at least 2) of raters."""
    if not items:
        return None
    raters = len(items[0])
    if raters < 2 or any(len(item) != raters for item in items):
        raise ValueError("every item needs the same number (>= 2) of ratings")
    totals: Counter[Rating] = Counter()
    agreement = 0.0
    for item in items:
        counts = Counter(item)
        totals.update(counts)
        agreement += (sum(c * c for c in counts.values()) - raters) / (raters * (raters - 1))
    observed = agreement / len(items)
    all_ratings = len(items) * raters
    chance = sum((count / all_ratings) ** 2 for count in totals.values())
    if chance >= 1.0:
        return None
    return (observed - chance) / (1.0 - chance)


def _bootstrap(
    n: int, statistic: Callable[[np.ndarray], float | None], resamples: int, seed: int
) -> tuple[float, float] | None:
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        value = statistic(rng.integers(0, n, size=n))
        if value is not None:
            values.append(value)
    return percentile_interval(np.array(values)) if values else None


def cohen_estimate(
    first: Sequence[Rating], second: Sequence[Rating], *, resamples: int = 1000, seed: int = 0
) -> Estimate:
    """Cohen's kappa with a bootstrap CI over items (resamples where it is undefined drop)."""
    value = cohen_kappa(first, second)
    if value is None:
        return Estimate(value=None, ci95=None, n=len(first))

    def statistic(rows: np.ndarray) -> float | None:
        return cohen_kappa([first[i] for i in rows], [second[i] for i in rows])

    return Estimate(
        value=value, ci95=_bootstrap(len(first), statistic, resamples, seed), n=len(first)
    )


def fleiss_estimate(
    items: Sequence[Sequence[Rating]], *, resamples: int = 1000, seed: int = 0
) -> Estimate:
    """Fleiss' kappa with a bootstrap CI over items."""
    value = fleiss_kappa(items)
    if value is None:
        return Estimate(value=None, ci95=None, n=len(items))

    def statistic(rows: np.ndarray) -> float | None:
        return fleiss_kappa([items[i] for i in rows])

    return Estimate(
        value=value, ci95=_bootstrap(len(items), statistic, resamples, seed), n=len(items)
    )
