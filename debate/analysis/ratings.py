"""Debater ratings from pairwise outcomes: sequential Elo, Bradley-Terry, bootstrap CIs.

A match is `(player_a, player_b, score)`, where score in [0, 1] is player_a's result: 1 a
win, 0 a loss, or a fraction such as the judge's win probability for player_a. Ratings are on
the Elo scale (400 points = a factor 10 in odds). Uses numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from debate.analysis.metrics import Estimate, percentile_interval, weight_chunks

__all__ = ["Match", "bradley_terry", "elo_ratings", "rating_cis", "rating_estimates"]

Match = tuple[str, str, float]
"""(player_a, player_b, score of player_a in [0, 1])."""

_ELO_PER_NAT = 400.0 / math.log(10.0)


def _players(matches: Sequence[Match]) -> list[str]:
    """The players in order of first appearance; rejects self-play and scores outside [0, 1]."""
    players: dict[str, None] = {}
    for a, b, s in matches:
        if a == b:
            raise ValueError(f"player {a!r} cannot play itself")
        if not 0.0 <= s <= 1.0:
            raise ValueError(f"score {s} of {a!r} vs {b!r} is outside [0, 1]")
        players.setdefault(a)
        players.setdefault(b)
    return list(players)


def elo_ratings(
    matches: Sequence[Match],
    *,
    k: float = 32.0,
    initial: float = 1000.0,
    rounds: int = 1,
    seed: int | None = None,
) -> dict[str, float]:
    """Sequential Elo over `matches` in the given order, repeated `rounds` times.

    Expected score E_a = 1 / (1 + 10^((R_b - R_a) / 400)); then R_a += k (score - E_a) and
    R_b -= k (score - E_a). With a `seed`, each round plays the matches in a fresh seeded
    random order instead of the given one.
    """
    rating = dict.fromkeys(_players(matches), float(initial))
    rng = np.random.default_rng(seed) if seed is not None else None
    for _ in range(rounds):
        order = list(range(len(matches))) if rng is None else rng.permutation(len(matches))
        for i in order:
            a, b, score = matches[int(i)]
            expected = 1.0 / (1.0 + 10.0 ** ((rating[b] - rating[a]) / 400.0))
            rating[a] += k * (score - expected)
            rating[b] -= k * (score - expected)
    return rating


def _strongly_connected(score: np.ndarray) -> bool:
    """Whether every player reaches every other along "scored something against" edges:
    the condition for the Bradley-Terry maximum-likelihood fit to exist (Zermelo, Ford)."""
    reach = (score > 0.0) | np.eye(len(score), dtype=bool)
    for _ in range(max(1, math.ceil(math.log2(len(score))))):
        reach = (reach.astype(np.int64) @ reach.astype(np.int64)) > 0
    return bool(reach.all())


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def bradley_terry(
    matches: Sequence[Match],
    *,
    prior: float = 1.0,
    iterations: int = 100,
    tol: float = 1e-10,
    mean_rating: float = 1000.0,
) -> dict[str, float]:
    """Bradley-Terry ratings on the Elo scale, fitted by Newton's method.

    P(a beats b) = s_a / (s_a + s_b); rating = 400 * log10(s_a), shifted so that the mean
    rating is `mean_rating`. A score x counts as x wins and 1 - x losses. `prior` adds that
    many virtual draws of every player against a fixed opponent of rating 0 (before the
    shift), which keeps ratings finite for players who won or lost everything; `prior=0`
    gives the plain maximum-likelihood fit and raises ValueError when that does not exist.
    The log-likelihood is concave; each Newton step is halved until it does not decrease.
    """
    players = _players(matches)
    if not players:
        return {}
    pos = {p: i for i, p in enumerate(players)}
    score = np.zeros((len(players), len(players)))  # score[i, j]: i's total score against j
    for a, b, s in matches:
        score[pos[a], pos[b]] += s
        score[pos[b], pos[a]] += 1.0 - s
    games = score + score.T
    wins = score.sum(axis=1)
    if prior <= 0.0 and not _strongly_connected(score):
        raise ValueError(
            "no Bradley-Terry MLE: a group of players always won, or groups never met; "
            "use prior > 0"
        )

    def loglik(theta: np.ndarray) -> float:
        diff = theta[:, None] - theta[None, :]
        virtual = 0.5 * (_log_sigmoid(theta) + _log_sigmoid(-theta)).sum()
        return float((score * _log_sigmoid(diff)).sum() + prior * virtual)

    theta = np.zeros(len(players))  # natural-log strengths
    current = loglik(theta)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(theta[:, None] - theta[None, :])))
        p_virtual = 1.0 / (1.0 + np.exp(-theta))
        grad = wins - (games * p).sum(axis=1) + prior * (0.5 - p_virtual)
        curvature = games * p * p.T  # minus the Hessian, off-diagonal sign flipped below
        neg_hessian = np.diag(curvature.sum(axis=1) + prior * p_virtual * (1 - p_virtual))
        neg_hessian -= curvature
        step = np.linalg.lstsq(neg_hessian, grad, rcond=None)[0]
        t = 1.0
        while t > 1e-6 and loglik(theta + t * step) < current - 1e-12 * abs(current):
            t /= 2.0
        theta = theta + t * step
        current = loglik(theta)
        if float(np.max(np.abs(t * step))) < tol:
            break
    else:
        raise ValueError(f"the Bradley-Terry fit did not converge in {iterations} iterations")
    ratings = _ELO_PER_NAT * theta
    ratings += mean_rating - ratings.mean()
    return {p: float(r) for p, r in zip(players, ratings, strict=True)}


RatingFit = Callable[[Sequence[Match]], dict[str, float]]


def rating_cis(
    matches: Sequence[Match],
    fit: RatingFit = bradley_terry,
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap CIs of the ratings `fit(matches)` gives, resampling matches.

    A resample keeps the original order of the matches it draws, so sequential Elo stays
    chronological. A player absent from a resample is left out of that resample.
    """
    players = _players(matches)
    draws: dict[str, list[float]] = {p: [] for p in players}
    rng = np.random.default_rng(seed)
    for chunk in weight_chunks(len(matches), None, resamples if matches else 0, rng):
        for row in chunk.astype(np.int64):
            sample = [m for m, times in zip(matches, row, strict=True) for _ in range(times)]
            for player, value in fit(sample).items():
                draws[player].append(value)
    return {p: percentile_interval(np.array(v), level) for p, v in draws.items() if v}


def rating_estimates(
    matches: Sequence[Match],
    fit: RatingFit = bradley_terry,
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Estimate]:
    """Ratings from `fit` with bootstrap 95% CIs; n is the number of matches each played."""
    played = dict.fromkeys(_players(matches), 0)
    for a, b, _ in matches:
        played[a] += 1
        played[b] += 1
    point = fit(matches)
    cis = rating_cis(matches, fit, resamples=resamples, seed=seed)
    return {p: Estimate(value=point[p], ci95=cis.get(p), n=played[p]) for p in played}
