"""Tests for debate.analysis.ratings: Elo and Bradley-Terry on hand-solvable tournaments."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from debate.analysis.ratings import Match, bradley_terry, elo_ratings, rating_cis, rating_estimates


def test_elo_two_matches_by_hand() -> None:
    # Both at 1000, expected 0.5: A wins -> A = 1000 + 32 * 0.5 = 1016, B = 984.
    assert elo_ratings([("A", "B", 1.0)]) == {"A": 1016.0, "B": 984.0}
    # Then B wins: E_A = 1 / (1 + 10^((984 - 1016) / 400)) = 1 / (1 + 10^-0.08)
    #            = 1 / 1.831764 = 0.545922; A loses 32 * 0.545922 = 17.46950.
    ratings = elo_ratings([("A", "B", 1.0), ("A", "B", 0.0)])
    assert ratings["A"] == pytest.approx(998.53050, abs=1e-4)
    assert ratings["B"] == pytest.approx(1001.46950, abs=1e-4)


def test_elo_fractional_scores_rounds_and_k() -> None:
    # A draw (judge at 0.5) between equals changes nothing.
    assert elo_ratings([("A", "B", 0.5)]) == {"A": 1000.0, "B": 1000.0}
    # Judge gives A 0.75 with k = 16: A = 1000 + 16 * (0.75 - 0.5) = 1004.
    assert elo_ratings([("A", "B", 0.75)], k=16, initial=1500) == {"A": 1504.0, "B": 1496.0}
    # Two rounds of one win: 1016/984, then E_A = 0.545922 -> A += 32 * 0.454078 = 14.53050.
    twice = elo_ratings([("A", "B", 1.0)], rounds=2)
    assert twice["A"] == pytest.approx(1030.53050, abs=1e-4)
    assert twice["A"] + twice["B"] == pytest.approx(2000.0)


def test_elo_seeded_order_is_a_permutation_per_round() -> None:
    matches: list[Match] = [("A", "B", 1.0), ("B", "C", 1.0), ("C", "A", 0.2), ("A", "B", 0.0)]
    seeded = elo_ratings(matches, seed=3)
    assert seeded == elo_ratings(matches, seed=3)
    order = np.random.default_rng(3).permutation(len(matches))
    assert seeded == elo_ratings([matches[int(i)] for i in order])
    assert sum(seeded.values()) == pytest.approx(3000.0)  # Elo is zero-sum


def test_bradley_terry_three_of_four() -> None:
    # A beats B 3 times of 4: strength ratio 3, rating gap 400 log10 3 = 190.8485.
    matches: list[Match] = [("A", "B", 1.0)] * 3 + [("B", "A", 1.0)]
    ratings = bradley_terry(matches, prior=0)
    assert ratings["A"] - ratings["B"] == pytest.approx(400 * math.log10(3), abs=1e-6)
    assert ratings["A"] == pytest.approx(1095.4243, abs=1e-4)
    assert ratings["B"] == pytest.approx(904.5757, abs=1e-4)
    # A fractional score of 0.75 in one match is the same evidence.
    assert bradley_terry([("A", "B", 0.75)], prior=0) == pytest.approx(ratings)


def test_bradley_terry_three_player_closed_form() -> None:
    # Strengths 4 : 2 : 1 satisfy every score equation W_i = sum_j n_ij s_i / (s_i + s_j):
    # A: 3 * 4/6 + 5 * 4/5 = 6 = 2 + 4 wins; B: 3 * 2/6 + 3 * 2/3 = 3 = 1 + 2; C: 1 + 1 = 2.
    matches: list[Match] = (
        [("A", "B", 1.0)] * 2
        + [("A", "B", 0.0)]
        + [("B", "C", 1.0)] * 2
        + [("C", "B", 1.0)]
        + [("A", "C", 1.0)] * 4
        + [("A", "C", 0.0)]
    )
    ratings = bradley_terry(matches, prior=0)
    step = 400 * math.log10(2)  # 120.4120
    assert ratings == pytest.approx({"A": 1000 + step, "B": 1000.0, "C": 1000 - step}, abs=1e-6)
    assert bradley_terry(matches, prior=0, mean_rating=0)["B"] == pytest.approx(0.0, abs=1e-6)


def test_bradley_terry_cycle_and_no_mle() -> None:
    cycle: list[Match] = [("A", "B", 1.0), ("B", "C", 1.0), ("C", "A", 1.0)]
    assert bradley_terry(cycle, prior=0) == pytest.approx({"A": 1000, "B": 1000, "C": 1000})
    with pytest.raises(ValueError, match="prior > 0"):
        bradley_terry([("A", "B", 1.0)], prior=0)  # A won everything
    with pytest.raises(ValueError, match="prior > 0"):
        bradley_terry([("A", "B", 0.5), ("C", "D", 0.5)], prior=0)  # two groups never met
    with pytest.raises(ValueError):
        bradley_terry([("A", "A", 1.0)])
    with pytest.raises(ValueError):
        bradley_terry([("A", "B", 1.5)])
    assert bradley_terry([]) == {}


def test_bradley_terry_prior_solves_its_score_equation() -> None:
    # One A win plus one virtual draw each against a strength-1 anchor. By symmetry
    # theta_B = -theta_A, and A's score equation is 1 + 0.5 = sigma(2 theta) + sigma(theta),
    # whose root (by bisection) is theta = 0.756308, strength 2.130395: a gap of 262.768.
    ratings = bradley_terry([("A", "B", 1.0)])
    theta = (ratings["A"] - 1000.0) * math.log(10) / 400

    def sigma(x: float) -> float:
        return 1 / (1 + math.exp(-x))

    assert ratings["A"] + ratings["B"] == pytest.approx(2000.0)
    assert sigma(2 * theta) + sigma(theta) == pytest.approx(1.5, abs=1e-9)
    assert ratings["A"] - ratings["B"] == pytest.approx(262.7682, abs=1e-4)


def test_rating_cis_resample_matches_like_an_explicit_loop() -> None:
    scores = [0.9, 0.2, 0.6, 0.7, 0.4]
    matches: list[Match] = [("A", "B", s) for s in scores]

    def mean_score(sample: Sequence[Match]) -> dict[str, float]:
        return {"A": sum(s for _, _, s in sample) / len(sample)}

    cis = rating_cis(matches, mean_score, resamples=300, seed=9)
    idx = np.random.default_rng(9).integers(0, 5, size=(300, 5))
    stats = np.sort([np.mean([scores[j] for j in row]) for row in idx])
    assert cis["A"] == pytest.approx(tuple(np.quantile(stats, [0.025, 0.975])), abs=1e-12)
    assert "B" not in cis  # never rated by that fit


def test_rating_cis_bradley_terry_and_elo() -> None:
    identical: list[Match] = [("A", "B", 0.75)] * 6
    # Every resample equals the data: zero-width CIs at the point fit.
    fit = bradley_terry(identical, prior=0)
    cis = rating_cis(identical, lambda m: bradley_terry(m, prior=0), resamples=50)
    assert cis["A"] == pytest.approx((fit["A"], fit["A"]))

    tournament: list[Match] = [
        ("A", "B", 0.7),
        ("B", "C", 0.6),
        ("A", "C", 0.9),
        ("C", "A", 0.3),
    ] * 5
    est = rating_estimates(tournament, resamples=200, seed=1)
    assert [est[p].n for p in "ABC"] == [15, 10, 15]
    for p in "ABC":
        lo, hi = est[p].ci95 or (0.0, 0.0)
        assert lo <= (est[p].value or 0.0) <= hi
    assert (est["A"].ci95 or (0, 0))[0] > (est["C"].ci95 or (0, 0))[1]  # A clearly above C
    assert rating_estimates(tournament, resamples=200, seed=1) == est
    elo = rating_cis(tournament, elo_ratings, resamples=100, seed=2)
    assert set(elo) == {"A", "B", "C"}
    assert rating_cis([], resamples=10) == {}
