"""Statistics for reports: estimates with n and a 95% CI, calibration and position bias.

Pure Python and numpy. Every figure a report prints comes from here as an `Estimate`
(value, ci95, n); debater ratings live in `debate.analysis.ratings`. Bootstrap CIs are percentile
intervals drawn from a seeded `numpy.random.Generator`, so the same inputs and seed give the
same bounds.

Resampling is expressed as integer weight matrices: row r of `W` says how many times each
unit appears in resample r. Plain bootstrap draws n units with replacement; a cluster
bootstrap (`clusters=`) draws whole clusters (e.g. both swap orders of one question) and
gives each unit its cluster's count. Means and ECE are then computed for all resamples at
once with matrix products, in chunks so that memory stays bounded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterator, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

__all__ = [
    "Estimate",
    "ReliabilityBin",
    "accuracy",
    "accuracy_by_position",
    "bootstrap_ci",
    "brier_estimate",
    "brier_score",
    "chosen_confidence",
    "ece_estimate",
    "expected_calibration_error",
    "mean_estimate",
    "percentile_interval",
    "reliability_bins",
    "swap_disagreement",
    "weight_chunks",
    "wilson_interval",
]

_CHUNK_CELLS = 2_000_000  # resamples x units held in memory at once


class Estimate(BaseModel):
    """A point estimate with its 95% CI and sample size; value and ci95 are None when n == 0."""

    model_config = ConfigDict(frozen=True)

    value: float | None
    ci95: tuple[float, float] | None
    n: int

    def as_dict(self) -> dict[str, object]:
        """JSON shape used in summaries: {"value": x, "ci95": [lo, hi], "n": n}."""
        ci = list(self.ci95) if self.ci95 is not None else None
        return {"value": self.value, "ci95": ci, "n": self.n}

    def __str__(self) -> str:
        if self.value is None or self.ci95 is None:
            return f"n/a (n={self.n})"
        return f"{self.value:.3f} [{self.ci95[0]:.3f}, {self.ci95[1]:.3f}] (n={self.n})"


class ReliabilityBin(BaseModel):
    """One equal-width confidence bin [lo, hi) (the last bin includes 1.0) of a reliability
    diagram; mean_confidence, accuracy and accuracy_ci95 (Wilson) are None for empty bins."""

    model_config = ConfigDict(frozen=True)

    lo: float
    hi: float
    count: int
    mean_confidence: float | None
    accuracy: float | None
    accuracy_ci95: tuple[float, float] | None


# ---------------------------------------------------------------- resampling machinery


def _cluster_codes(clusters: Sequence[Hashable] | None, n: int) -> np.ndarray | None:
    if clusters is None:
        return None
    if len(clusters) != n:
        raise ValueError(f"clusters has {len(clusters)} entries for {n} values")
    codes: dict[Hashable, int] = {}
    return np.array([codes.setdefault(c, len(codes)) for c in clusters], dtype=np.int64)


def weight_chunks(
    n: int,
    clusters: Sequence[Hashable] | None,
    resamples: int,
    rng: np.random.Generator,
) -> Iterator[np.ndarray]:
    """Yield float (rows, n) bootstrap count matrices, `resamples` rows in total.

    Without clusters each row counts n draws with replacement from the n units (the draws
    are `rng.integers(0, n, size=(rows, n))`); with clusters it draws as many clusters as
    there are, and every unit gets its cluster's count.
    """
    codes = _cluster_codes(clusters, n)
    units = n if codes is None else int(codes.max()) + 1
    per_chunk = max(1, _CHUNK_CELLS // max(n, units, 1))
    done = 0
    while done < resamples:
        rows = min(per_chunk, resamples - done)
        idx = rng.integers(0, units, size=(rows, units))
        flat = (idx + units * np.arange(rows)[:, None]).ravel()
        counts = np.bincount(flat, minlength=rows * units).reshape(rows, units)
        yield (counts if codes is None else counts[:, codes]).astype(float)
        done += rows


def percentile_interval(stats: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central `level` interval of bootstrap statistics (linear interpolation)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    alpha = 1.0 - level
    lo, hi = np.quantile(stats, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)


def _bootstrap_weighted(
    n: int,
    stat: Callable[[np.ndarray], np.ndarray],
    clusters: Sequence[Hashable] | None,
    resamples: int,
    seed: int,
    level: float,
) -> tuple[float, float]:
    """Percentile CI of `stat`, which maps a (rows, n) weight matrix to (rows,) statistics."""
    if resamples < 1:
        raise ValueError("resamples must be >= 1")
    rng = np.random.default_rng(seed)
    chunks = weight_chunks(n, clusters, resamples, rng)
    return percentile_interval(np.concatenate([stat(w) for w in chunks]), level)


def _as_array(values: Sequence[float] | np.ndarray, name: str = "values") -> np.ndarray:
    arr = np.asarray(values, dtype=float).reshape(-1)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite numbers")
    return arr


# ---------------------------------------------------------------- estimates


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    statistic: Callable[..., float] = np.mean,
    *,
    clusters: Sequence[Hashable] | None = None,
    resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of `statistic(values)`; None for no values.

    `clusters` (one id per value) resamples whole clusters instead of single values.
    `np.mean` is computed for all resamples at once; any other statistic is called once per
    resample on the resampled 1-D array. All-equal inputs give a zero-width interval.
    """
    arr = _as_array(values)
    if arr.size == 0:
        return None
    if np.ptp(arr) == 0.0:
        point = float(statistic(arr))
        return point, point
    if statistic is np.mean:

        def stat(w: np.ndarray) -> np.ndarray:
            return (w @ arr) / w.sum(axis=1)

    else:

        def stat(w: np.ndarray) -> np.ndarray:
            counts = w.astype(np.int64)
            return np.array([float(statistic(np.repeat(arr, row))) for row in counts])

    return _bootstrap_weighted(arr.size, stat, clusters, resamples, seed, level)


def mean_estimate(
    values: Sequence[float] | np.ndarray,
    *,
    clusters: Sequence[Hashable] | None = None,
    resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """Mean with a 95% bootstrap CI (cluster bootstrap when `clusters` is given)."""
    arr = _as_array(values)
    if arr.size == 0:
        return Estimate(value=None, ci95=None, n=0)
    ci = bootstrap_ci(arr, clusters=clusters, resamples=resamples, seed=seed)
    return Estimate(value=float(arr.mean()), ci95=ci, n=int(arr.size))


def accuracy(
    correct: Sequence[bool],
    *,
    clusters: Sequence[Hashable] | None = None,
    resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """Fraction correct with a 95% bootstrap CI. Pass invalid verdicts as False."""
    return mean_estimate(
        [1.0 if c else 0.0 for c in correct], clusters=clusters, resamples=resamples, seed=seed
    )


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval for a binomial proportion; None when n == 0."""
    if n == 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


# ---------------------------------------------------------------- calibration


def chosen_confidence(
    probs: Sequence[Sequence[float]], correct_index: Sequence[int]
) -> tuple[list[float], list[bool]]:
    """Confidence of the chosen (argmax) answer per item and whether it is the correct one.

    A tie for the highest probability is no choice: it counts as not correct.
    """
    confidences: list[float] = []
    correct: list[bool] = []
    for row, gold in zip(probs, correct_index, strict=True):
        top = max(row)
        winners = [i for i, p in enumerate(row) if p == top]
        confidences.append(float(top))
        correct.append(winners == [gold])
    return confidences, correct


def _brier_terms(probs: Sequence[float], outcomes: Sequence[bool | float]) -> np.ndarray:
    p = _as_array(probs, "probs")
    o = _as_array([float(x) for x in outcomes], "outcomes")
    if p.size != o.size:
        raise ValueError(f"{p.size} probabilities for {o.size} outcomes")
    if np.any((p < 0) | (p > 1)):
        raise ValueError("probabilities must lie in [0, 1]")
    return (p - o) ** 2


def brier_score(probs: Sequence[float], outcomes: Sequence[bool | float]) -> float:
    """Mean of (p - outcome)^2, with p the probability of the event (e.g. of the correct
    answer, outcome 1) and outcome 0/1. 0 is perfect; always answering 0.5 scores 0.25."""
    terms = _brier_terms(probs, outcomes)
    if terms.size == 0:
        raise ValueError("brier_score of no items")
    return float(terms.mean())


def brier_estimate(
    probs: Sequence[float],
    outcomes: Sequence[bool | float],
    *,
    clusters: Sequence[Hashable] | None = None,
    resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """`brier_score` with a 95% bootstrap CI."""
    terms = _brier_terms(probs, outcomes)
    return mean_estimate(terms, clusters=clusters, resamples=resamples, seed=seed)


def _calibration_arrays(
    confidences: Sequence[float], correct: Sequence[bool], bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    conf = _as_array(confidences, "confidences")
    hit = np.array([1.0 if c else 0.0 for c in correct])
    if conf.size != hit.size:
        raise ValueError(f"{conf.size} confidences for {hit.size} outcomes")
    if np.any((conf < 0) | (conf > 1)):
        raise ValueError("confidences must lie in [0, 1]")
    if bins < 1:
        raise ValueError("bins must be >= 1")
    which = np.minimum((conf * bins).astype(np.int64), bins - 1)
    return conf, hit, which


def _ece_rows(
    w: np.ndarray, conf: np.ndarray, hit: np.ndarray, which: np.ndarray, bins: int
) -> np.ndarray:
    """ECE per weight row: sum over bins |sum w*(hit - conf)| / sum w."""
    per_bin = np.zeros((conf.size, bins))
    per_bin[np.arange(conf.size), which] = hit - conf
    return np.abs(w @ per_bin).sum(axis=1) / w.sum(axis=1)


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> float:
    """ECE: over equal-width bins of the chosen answer's confidence ([lo, hi), last bin
    closed), the bin-count-weighted mean of |accuracy - mean confidence|."""
    conf, hit, which = _calibration_arrays(confidences, correct, bins)
    if conf.size == 0:
        raise ValueError("expected_calibration_error of no items")
    return float(_ece_rows(np.ones((1, conf.size)), conf, hit, which, bins)[0])


def ece_estimate(
    confidences: Sequence[float],
    correct: Sequence[bool],
    bins: int = 10,
    *,
    clusters: Sequence[Hashable] | None = None,
    resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """`expected_calibration_error` with a 95% bootstrap CI over items."""
    conf, hit, which = _calibration_arrays(confidences, correct, bins)
    if conf.size == 0:
        return Estimate(value=None, ci95=None, n=0)
    value = float(_ece_rows(np.ones((1, conf.size)), conf, hit, which, bins)[0])
    ci = _bootstrap_weighted(
        conf.size,
        lambda w: _ece_rows(w, conf, hit, which, bins),
        clusters,
        resamples,
        seed,
        0.95,
    )
    return Estimate(value=value, ci95=ci, n=int(conf.size))


def reliability_bins(
    confidences: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> list[ReliabilityBin]:
    """All `bins` equal-width bins (empty ones included) for a reliability diagram."""
    conf, hit, which = _calibration_arrays(confidences, correct, bins)
    out: list[ReliabilityBin] = []
    for b in range(bins):
        mask = which == b
        count = int(mask.sum())
        successes = int(hit[mask].sum())
        out.append(
            ReliabilityBin(
                lo=b / bins,
                hi=(b + 1) / bins,
                count=count,
                mean_confidence=float(conf[mask].mean()) if count else None,
                accuracy=successes / count if count else None,
                accuracy_ci95=wilson_interval(successes, count),
            )
        )
    return out


# ---------------------------------------------------------------- position bias


def accuracy_by_position(
    correct: Sequence[bool],
    correct_positions: Sequence[int],
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[int, Estimate]:
    """Accuracy split by the position (0 = A, 1 = B, ...) of the correct answer."""
    if len(correct) != len(correct_positions):
        raise ValueError(f"{len(correct)} outcomes for {len(correct_positions)} positions")
    groups: dict[int, list[bool]] = {}
    for ok, pos in zip(correct, correct_positions, strict=True):
        groups.setdefault(int(pos), []).append(bool(ok))
    return {pos: accuracy(groups[pos], resamples=resamples, seed=seed) for pos in sorted(groups)}


def swap_disagreement(
    pairs: Sequence[tuple[Hashable, Hashable]], *, resamples: int = 2000, seed: int = 0
) -> Estimate:
    """Fraction of items whose chosen answer differs between the two answer orders.

    Each pair holds the chosen answer's identity (e.g. the index in the unswapped answer
    list, not the label A/B) in the original and in the swapped order. Leave out items with
    an invalid verdict in either order.
    """
    return accuracy([a != b for a, b in pairs], resamples=resamples, seed=seed)


def format_estimate(estimate: dict[str, Any] | Estimate) -> str:
    """`0.712 [0.650, 0.770]`, or `n/a` for an estimate without a value."""
    data: dict[str, Any] = estimate.as_dict() if isinstance(estimate, Estimate) else estimate
    if data.get("value") is None:
        return "n/a"
    lo, hi = data["ci95"]
    return f"{data['value']:.3f} [{lo:.3f}, {hi:.3f}]"
