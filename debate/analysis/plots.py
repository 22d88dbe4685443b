"""Matplotlib PNGs of a benchmark: accuracy bars, reliability diagrams, ratings, accuracy vs rating.

Each function takes the JSON-ready result of `debate.bench.experiment.run_bench` (or its parts) and
writes one PNG; `write_plots` writes every plot that has data and returns {title: path}.
Uses the non-interactive Agg backend; matplotlib is imported only here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _error(estimate: dict[str, Any]) -> tuple[float, float]:
    """(below, above) error-bar lengths of an estimate; zero when there is no CI."""
    value, ci = estimate.get("value"), estimate.get("ci95")
    if value is None or not ci:
        return 0.0, 0.0
    return max(0.0, value - ci[0]), max(0.0, ci[1] - value)


def accuracy_bars(pooled: list[dict[str, Any]], path: Path) -> Path:
    """Judge accuracy with 95% CIs: a group of bars per protocol, one bar per judge."""
    protocols = list(dict.fromkeys(g["protocol"] for g in pooled))
    judges = list(dict.fromkeys(g["judge"] for g in pooled))
    lookup = {(g["protocol"], g["judge"]): g["metrics"]["accuracy"] for g in pooled}
    width = 0.8 / max(1, len(judges))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(protocols) * max(1, len(judges)) / 2), 4.5))
    for j, judge in enumerate(judges):
        xs: list[float] = []
        heights: list[float] = []
        errors: list[list[float]] = [[], []]
        ns: list[int] = []
        for p, protocol in enumerate(protocols):
            estimate = lookup.get((protocol, judge))
            if estimate is None or estimate.get("value") is None:
                continue
            below, above = _error(estimate)
            xs.append(p - 0.4 + width * (j + 0.5))
            heights.append(estimate["value"])
            errors[0].append(below)
            errors[1].append(above)
            ns.append(estimate["n"])
        bars = ax.bar(xs, heights, width, yerr=errors, capsize=4, label=f"judge: {judge}")
        for bar, n in zip(bars, ns, strict=True):
            ax.annotate(
                f"n={n}",
                (bar.get_x() + bar.get_width() / 2, 0.02),
                ha="center",
                fontsize=8,
                color="white",
            )
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=1, label="chance (2 answers)")
    ax.set_xticks(range(len(protocols)), protocols)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("judge accuracy (95% bootstrap CI)")
    ax.set_title("Judge accuracy by protocol and judge")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def reliability_diagram(pooled: list[dict[str, Any]], path: Path) -> Path:
    """Per judge, accuracy against mean confidence of the chosen answer in each bin
    (Wilson 95% CIs), a line per protocol, with the diagonal of perfect calibration."""
    judges = list(dict.fromkeys(g["judge"] for g in pooled))
    fig, axes = plt.subplots(1, len(judges), figsize=(5 * len(judges), 4.8), squeeze=False)
    for ax, judge in zip(axes[0], judges, strict=True):
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="calibrated")
        for group in (g for g in pooled if g["judge"] == judge):
            bins = [b for b in group["metrics"]["reliability"] if b["count"]]
            if not bins:
                continue
            xs = [b["mean_confidence"] for b in bins]
            ys = [b["accuracy"] for b in bins]
            below = [max(0.0, b["accuracy"] - b["accuracy_ci95"][0]) for b in bins]
            above = [max(0.0, b["accuracy_ci95"][1] - b["accuracy"]) for b in bins]
            ece = group["metrics"]["ece"]["value"]
            ax.errorbar(
                xs,
                ys,
                yerr=[below, above],
                marker="o",
                capsize=3,
                label=f"{group['protocol']} (ECE {ece:.2f}, n={sum(b['count'] for b in bins)})",
            )
        shown = [
            b["mean_confidence"]
            for g in pooled
            if g["judge"] == judge
            for b in g["metrics"]["reliability"]
            if b["count"]
        ]
        # the chosen answer's confidence is at least 1/answers: 2-answer sets start at 0.5
        ax.set_xlim(min([0.5, *shown]) - 0.05, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("confidence in the chosen answer (bin mean)")
        ax.set_ylabel("accuracy in the bin")
        ax.set_title(f"Reliability: judge {judge}")
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def ratings_plot(ratings: dict[str, Any], path: Path) -> Path:
    """Bradley-Terry (and Elo) ratings of the debaters with 95% bootstrap CIs."""
    names = sorted(ratings, key=lambda n: ratings[n]["bradley_terry"]["value"] or 0.0)
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.6 * len(names)))
    for offset, key, label in ((-0.12, "bradley_terry", "Bradley-Terry"), (0.12, "elo", "Elo")):
        ys, xs, below, above = [], [], [], []
        for i, name in enumerate(names):
            estimate = ratings[name][key]
            if estimate.get("value") is None:
                continue
            low, high = _error(estimate)
            ys.append(i + offset)
            xs.append(estimate["value"])
            below.append(low)
            above.append(high)
        if xs:
            ax.errorbar(xs, ys, xerr=[below, above], fmt="o", capsize=4, label=label)
    ax.set_yticks(range(len(names)), names)
    ax.axvline(1000, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("rating (Elo scale, 95% bootstrap CI)")
    ax.set_title("Debater ratings")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def accuracy_vs_rating(ratings: dict[str, Any], path: Path) -> Path:
    """Judge accuracy in each debater's games against its Bradley-Terry rating."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for number, (name, entry) in enumerate(ratings.items()):
        rating, acc = entry["bradley_terry"], entry["judge_accuracy"]
        if rating.get("value") is None or acc.get("value") is None:
            continue
        ax.errorbar(
            [rating["value"]],
            [acc["value"]],
            xerr=[[_error(rating)[0]], [_error(rating)[1]]],
            yerr=[[_error(acc)[0]], [_error(acc)[1]]],
            fmt="o",
            capsize=4,
        )
        ax.annotate(
            f"{name} ({entry['judge_accuracy_from']})",
            (rating["value"], acc["value"]),
            textcoords="offset points",
            xytext=(6, 6 + 11 * (number % 3)),
            fontsize=8,
        )
    ax.set_ylim(0, 1.05)
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("debater rating (Bradley-Terry, Elo scale)")
    ax.set_ylabel("judge accuracy (95% CI)")
    ax.set_title("Judge accuracy vs debater rating")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_plots(result: dict[str, Any], folder: Path) -> dict[str, str]:
    """Every plot the result has data for; {title: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    plots: dict[str, str] = {}
    pooled = [g for g in result.get("pooled", []) if g["metrics"]["accuracy"]["n"]]
    if pooled:
        plots["accuracy by protocol and judge"] = str(
            accuracy_bars(pooled, folder / "accuracy.png")
        )
        if any(b["count"] for g in pooled for b in g["metrics"]["reliability"]):
            plots["reliability diagram"] = str(
                reliability_diagram(pooled, folder / "reliability.png")
            )
    tournament = result.get("tournament")
    if tournament and tournament.get("ratings"):
        ratings = tournament["ratings"]
        plots["debater ratings"] = str(ratings_plot(ratings, folder / "ratings.png"))
        plots["accuracy vs rating"] = str(
            accuracy_vs_rating(ratings, folder / "accuracy_vs_rating.png")
        )
    return plots
