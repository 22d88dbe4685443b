"""Tests for debate.analysis.metrics, pinned to hand-computed values and independent loops."""

from __future__ import annotations

import math

import numpy as np
import pytest

from debate.analysis.metrics import (
    Estimate,
    accuracy,
    accuracy_by_position,
    bootstrap_ci,
    brier_estimate,
    brier_score,
    chosen_confidence,
    ece_estimate,
    expected_calibration_error,
    mean_estimate,
    reliability_bins,
    swap_disagreement,
    wilson_interval,
)


def _linear_quantile(sorted_stats: list[float], q: float) -> float:
    """Textbook linear-interpolation quantile (numpy's default), written out by hand."""
    h = (len(sorted_stats) - 1) * q
    i = math.floor(h)
    if i + 1 >= len(sorted_stats):
        return sorted_stats[-1]
    return sorted_stats[i] + (h - i) * (sorted_stats[i + 1] - sorted_stats[i])


def _loop_ci(values: list[float], stat, resamples: int, seed: int) -> tuple[float, float]:
    """Independent reference: draw the same index matrix, then loop over resamples."""
    n = len(values)
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    stats = sorted(float(stat([values[j] for j in row])) for row in idx)
    return _linear_quantile(stats, 0.025), _linear_quantile(stats, 0.975)


# ---------------------------------------------------------------- bootstrap


def test_bootstrap_mean_matches_explicit_loop() -> None:
    values = [2.0, 4.0, 4.0, 5.0, 9.0]
    expected = _loop_ci(values, lambda xs: sum(xs) / len(xs), resamples=200, seed=7)
    got = bootstrap_ci(values, resamples=200, seed=7)
    assert got is not None and got == pytest.approx(expected, abs=1e-12)
    lo, hi = got
    assert lo <= 4.8 <= hi  # the sample mean (24 / 5) lies inside
    assert lo >= 2.0 and hi <= 9.0


def test_bootstrap_other_statistic_matches_explicit_loop() -> None:
    values = [1.0, 3.0, 3.0, 6.0, 10.0, 15.0]
    expected = _loop_ci(values, np.median, resamples=300, seed=3)
    assert bootstrap_ci(values, np.median, resamples=300, seed=3) == pytest.approx(
        expected, abs=1e-12
    )


def test_bootstrap_is_seeded_and_deterministic() -> None:
    values = [0.1, 0.5, 0.2, 0.9, 0.4, 0.7, 0.3]
    assert bootstrap_ci(values, seed=1) == bootstrap_ci(values, seed=1)
    assert bootstrap_ci(values, seed=1) != bootstrap_ci(values, seed=2)


def test_bootstrap_degenerate_inputs() -> None:
    assert bootstrap_ci([]) is None
    assert bootstrap_ci([3.5]) == (3.5, 3.5)  # n = 1: zero-width interval at the value
    assert bootstrap_ci([2.0, 2.0, 2.0, 2.0]) == (2.0, 2.0)  # all equal: zero width
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, float("nan")])
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 2.0], level=1.5)


def test_bootstrap_level_widens_interval() -> None:
    values = [float(v) for v in range(20)]
    lo95, hi95 = bootstrap_ci(values, seed=0) or (0.0, 0.0)
    lo80, hi80 = bootstrap_ci(values, seed=0, level=0.80) or (0.0, 0.0)
    assert lo95 < lo80 < 9.5 < hi80 < hi95


def test_bootstrap_large_input_is_close_to_normal_theory() -> None:
    # 10k uniform values: the CI half-width should be about 1.96 * sd / sqrt(n).
    values = np.random.default_rng(5).random(10_000)
    lo, hi = bootstrap_ci(values, resamples=2000, seed=0) or (0.0, 0.0)
    half = 1.96 * values.std() / math.sqrt(values.size)
    assert lo < values.mean() < hi
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.1)


def test_cluster_bootstrap_on_duplicated_items_equals_item_bootstrap() -> None:
    # Each item judged twice (both swap orders) with the same outcome: resampling items
    # must give exactly the bootstrap of the deduplicated items (same draws, same seed).
    items = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    units = [v for v in items for _ in range(2)]
    ids = [f"q{i}" for i in range(len(items)) for _ in range(2)]
    by_item = bootstrap_ci(items, resamples=500, seed=11)
    assert by_item is not None
    assert bootstrap_ci(units, clusters=ids, resamples=500, seed=11) == pytest.approx(
        by_item, abs=1e-12
    )
    # Median (general path): duplicating every value of an odd-sized sample keeps its median.
    assert bootstrap_ci(units, np.median, clusters=ids, resamples=500, seed=11) == (
        pytest.approx(bootstrap_ci(items, np.median, resamples=500, seed=11), abs=1e-12)
    )
    # Ignoring the clustering pretends there are 14 independent units: a narrower CI.
    naive_lo, naive_hi = bootstrap_ci(units, resamples=500, seed=11) or (0.0, 0.0)
    assert naive_hi - naive_lo < by_item[1] - by_item[0]
    with pytest.raises(ValueError):
        bootstrap_ci(units, clusters=ids[:-1])


# ---------------------------------------------------------------- estimates


def test_accuracy_estimate_and_dict_shape() -> None:
    est = accuracy([True, True, False, True], resamples=400, seed=0)
    assert est.value == 0.75 and est.n == 4
    assert est.ci95 == pytest.approx(
        _loop_ci([1.0, 1.0, 0.0, 1.0], lambda xs: sum(xs) / 4, 400, 0), abs=1e-12
    )
    d = est.as_dict()
    assert d["value"] == 0.75 and d["n"] == 4
    assert isinstance(d["ci95"], list) and len(d["ci95"]) == 2
    assert str(Estimate(value=0.5, ci95=(0.25, 0.75), n=8)) == "0.500 [0.250, 0.750] (n=8)"


def test_empty_estimates_are_none_valued() -> None:
    assert accuracy([]).as_dict() == {"value": None, "ci95": None, "n": 0}
    assert mean_estimate([]).value is None
    assert str(accuracy([])) == "n/a (n=0)"


def test_mean_estimate_single_value() -> None:
    est = mean_estimate([0.25])
    assert (est.value, est.ci95, est.n) == (0.25, (0.25, 0.25), 1)


def test_wilson_textbook_values() -> None:
    # 8/10: centre (0.8 + z^2/20) / (1 + z^2/10) = 0.71674, half-width 0.22658
    assert wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    # 0/10: lower bound 0, upper z^2 / (n + z^2) = 3.8415 / 13.8415 = 0.27753
    lo, hi = wilson_interval(0, 10) or (1.0, 0.0)
    assert lo == pytest.approx(0.0, abs=1e-12) and hi == pytest.approx(0.27753, abs=1e-4)
    assert wilson_interval(0, 0) is None
    lo99, hi99 = wilson_interval(8, 10, level=0.99) or (0.0, 0.0)
    assert lo99 < 0.4902 and hi99 > 0.9433
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


def test_bootstrap_accuracy_agrees_with_wilson_on_large_n() -> None:
    correct = [True] * 280 + [False] * 120  # 0.7 of 400
    est = accuracy(correct, seed=0)
    wilson = wilson_interval(280, 400)
    assert est.ci95 is not None and wilson is not None
    assert est.ci95 == pytest.approx(wilson, abs=0.01)


# ---------------------------------------------------------------- calibration


def test_brier_score_by_hand() -> None:
    # (0.9-1)^2 + (0.2-0)^2 + (0.6-0)^2 + (0.5-1)^2 = 0.01 + 0.04 + 0.36 + 0.25 = 0.66; / 4
    assert brier_score([0.9, 0.2, 0.6, 0.5], [True, False, False, True]) == pytest.approx(0.165)
    # Probability of the correct answer against outcome 1: (1-0.8)^2, (1-0.4)^2 -> 0.2
    assert brier_score([0.8, 0.4], [1, 1]) == pytest.approx((0.04 + 0.36) / 2)
    est = brier_estimate([0.9, 0.2, 0.6, 0.5], [True, False, False, True])
    assert est.value == pytest.approx(0.165) and est.n == 4
    with pytest.raises(ValueError):
        brier_score([0.5], [True, False])
    with pytest.raises(ValueError):
        brier_score([1.5], [True])


CONF = [0.55, 0.65, 0.62, 0.95, 0.90, 0.58]
HIT = [True, False, True, True, True, False]
# bins of width 0.1: [0.5, 0.6) holds 0.55, 0.58 -> conf 0.565, acc 1/2, gap 0.065
#                    [0.6, 0.7) holds 0.65, 0.62 -> conf 0.635, acc 1/2, gap 0.135
#                    [0.9, 1.0] holds 0.95, 0.90 -> conf 0.925, acc 2/2, gap 0.075
# ECE = (2/6)(0.065) + (2/6)(0.135) + (2/6)(0.075) = 0.275 / 3 = 0.091667


def test_ece_by_hand() -> None:
    assert expected_calibration_error(CONF, HIT) == pytest.approx(0.275 / 3)
    # One bin (bins=1): |mean conf 0.708333 - accuracy 4/6| = 0.041667
    assert expected_calibration_error(CONF, HIT, bins=1) == pytest.approx(
        abs(sum(CONF) / 6 - 4 / 6)
    )
    # Perfectly calibrated: confidence 0.75, three of four right.
    assert expected_calibration_error([0.75] * 4, [True, True, True, False]) == pytest.approx(0)
    # Always certain, right half the time: ECE 0.5 (confidence 1.0 falls in the last bin).
    assert expected_calibration_error([1.0, 1.0], [True, False]) == pytest.approx(0.5)


def test_ece_estimate_matches_explicit_loop() -> None:
    est = ece_estimate(CONF, HIT, resamples=300, seed=4)
    assert est.value == pytest.approx(0.275 / 3) and est.n == 6
    idx = np.random.default_rng(4).integers(0, 6, size=(300, 6))
    stats = sorted(
        expected_calibration_error([CONF[j] for j in row], [HIT[j] for j in row]) for row in idx
    )
    expected = (_linear_quantile(stats, 0.025), _linear_quantile(stats, 0.975))
    assert est.ci95 == pytest.approx(expected, abs=1e-12)
    assert ece_estimate([], []).value is None


def test_reliability_bins_by_hand() -> None:
    bins = reliability_bins(CONF, HIT)
    assert len(bins) == 10
    assert [b.count for b in bins] == [0, 0, 0, 0, 0, 2, 2, 0, 0, 2]
    assert (bins[5].lo, bins[5].hi) == pytest.approx((0.5, 0.6))
    assert bins[5].mean_confidence == pytest.approx(0.565) and bins[5].accuracy == 0.5
    assert bins[6].mean_confidence == pytest.approx(0.635) and bins[6].accuracy == 0.5
    assert bins[9].mean_confidence == pytest.approx(0.925) and bins[9].accuracy == 1.0
    assert bins[9].accuracy_ci95 == wilson_interval(2, 2)
    assert bins[0].mean_confidence is None and bins[0].accuracy is None
    assert bins[0].accuracy_ci95 is None
    assert sum(b.count for b in reliability_bins(CONF, HIT, bins=3)) == 6


def test_chosen_confidence_counts_ties_as_wrong() -> None:
    conf, correct = chosen_confidence([[0.7, 0.3], [0.4, 0.6], [0.5, 0.5]], [0, 0, 1])
    assert conf == [0.7, 0.6, 0.5]
    assert correct == [True, False, False]


# ---------------------------------------------------------------- position bias


def test_accuracy_by_position() -> None:
    correct = [True, True, False, True, False, False]
    positions = [1, 0, 0, 0, 1, 1]
    by_pos = accuracy_by_position(correct, positions, resamples=200)
    assert list(by_pos) == [0, 1]
    # position 0: items 2,3,4 -> True, False, True; position 1: items 1,5,6 -> True, F, F
    assert by_pos[0].value == pytest.approx(2 / 3) and by_pos[0].n == 3
    assert by_pos[1].value == pytest.approx(1 / 3) and by_pos[1].n == 3
    with pytest.raises(ValueError):
        accuracy_by_position([True], [0, 1])


def test_swap_disagreement() -> None:
    # Chosen answer identity in the original and the swapped order: items 2 and 4 flip.
    est = swap_disagreement([(0, 0), (1, 0), (1, 1), (0, 1)], resamples=200)
    assert est.value == 0.5 and est.n == 4
    assert swap_disagreement([("yes", "yes"), ("no", "no")]).ci95 == (0.0, 0.0)
