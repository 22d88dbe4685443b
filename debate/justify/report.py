"""Tables, markdown and plots of a justifiable-policy sweep summary.

Every number is a mean over seeds with its 95% Student-t interval (with 5 seeds a
percentile bootstrap would be too narrow), shown as `mean [low, high]`. `summarize`
turns the per-seed result dicts of `experiment.run_seed` into that summary; the rest
renders it. This module needs neither torch nor the experiment.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

# two-sided 95% Student-t quantiles by degrees of freedom
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
COLUMNS = (
    ("env_return", "env return"),
    ("judge_preference", "judge pref."),
    ("ideal_preference", "ideal pref."),
    ("disagreement", "differs"),
    ("robustness_greedy", "robust greedy"),
    ("robustness_minimax", "robust minimax"),
    ("robustness_learned", "robust learned"),
    ("robustness_random", "robust random"),
    ("ideal_reward_env_return", "ideal-reward env return"),
    ("ideal_reward_ideal_preference", "ideal-reward ideal pref."),
)


def t_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high): a 95% Student-t interval; a single value has a zero-width one."""
    array = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if array.size == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(array.mean())
    if array.size == 1:
        return (mean, mean, mean)
    half = _T95.get(array.size - 1, 1.96) * float(array.std(ddof=1)) / math.sqrt(array.size)
    return (mean, mean - half, mean + half)


def summarize(seeds: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and 95% t-interval over seeds of every metric, per lambda."""
    table: dict[str, dict[str, list[float]]] = {}
    for key, first in seeds[0]["lambdas"].items():
        table[key] = {
            metric: list(t_interval([run["lambdas"][key][metric] for run in seeds]))
            for metric in first
        }
    accuracy = {
        name: list(t_interval([run["judge_accuracy"][name] for run in seeds]))
        for name in seeds[0]["judge_accuracy"]
    }
    references = {
        name: list(t_interval([run["references"][name] for run in seeds]))
        for name in seeds[0]["references"]
    }
    return {
        "per_lambda": table,
        "judge_accuracy": accuracy,
        "references": references,
        "n_seeds": len(seeds),
    }


def cell(interval: list[float]) -> str:
    mean, low, high = interval
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def compact_cell(interval: list[float]) -> str:
    """`mean ±half-width` of a (mean, low, high) interval, for narrow terminals."""
    mean, low, high = interval
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.3f} ±{(high - low) / 2:.3f}"


def rich_table(summary: dict[str, Any]) -> Table:
    title = f"Justifiable policies: mean ±95% CI half-width over {summary['n_seeds']} seeds"
    table = Table(title=title)
    table.add_column("lambda", justify="right")
    for _, label in COLUMNS:
        table.add_column(label, justify="right")
    for lam, metrics in summary["per_lambda"].items():
        table.add_row(lam, *(compact_cell(metrics[key]) for key, _ in COLUMNS))
    return table


def table_text(summary: dict[str, Any], width: int = 200) -> str:
    console = Console(record=True, width=width, file=io.StringIO())
    console.print(rich_table(summary))
    console.print("\n".join(accuracy_and_references(summary)))
    return console.export_text()


def markdown(summary: dict[str, Any]) -> str:
    """A markdown report: the per-lambda table, judge accuracies and reference returns."""
    header = "| lambda | " + " | ".join(label for _, label in COLUMNS) + " |"
    lines = [
        f"# Justifiable policies ({summary['n_seeds']} seeds, mean [95% t-interval])",
        "",
        header,
        "|" + "---|" * (len(COLUMNS) + 1),
    ]
    for lam, metrics in summary["per_lambda"].items():
        lines.append(f"| {lam} | " + " | ".join(cell(metrics[key]) for key, _ in COLUMNS) + " |")
    return "\n".join([*lines, *accuracy_and_references(summary)]) + "\n"


def accuracy_and_references(summary: dict[str, Any]) -> list[str]:
    """Judge accuracies and reference returns as markdown list lines."""
    lines = ["", "Judge held-out pairwise accuracy:", ""]
    lines += [f"- {name}: {cell(value)}" for name, value in summary["judge_accuracy"].items()]
    lines += ["", "Reference environment returns on the same test cases:", ""]
    lines += [f"- {name}: {cell(value)}" for name, value in summary["references"].items()]
    return lines


def plot(summary: dict[str, Any], path: str | Path) -> Path:
    """Three panels against lambda: env return, judge preferences, arguer robustness."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    per_lambda = summary["per_lambda"]
    lambdas = [float(lam) for lam in per_lambda]
    figure = Figure(figsize=(13, 4))
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 3)

    def draw(axis: Any, key: str, label: str) -> None:
        intervals = [per_lambda[lam][key] for lam in per_lambda]
        means = [i[0] for i in intervals]
        errors = [[i[0] - i[1] for i in intervals], [i[2] - i[0] for i in intervals]]
        axis.errorbar(lambdas, means, yerr=errors, marker="o", capsize=3, label=label)

    draw(axes[0], "env_return", "policy")
    for name, style in (("optimal_return", ":"), ("expert_return", "--")):
        axes[0].axhline(summary["references"][name][0], linestyle=style, color="grey", label=name)
    axes[0].set_title("environment return")
    draw(axes[1], "judge_preference", "proxy judge (debate, L features)")
    draw(axes[1], "ideal_preference", "ideal judge (full state)")
    draw(axes[1], "ideal_reward_ideal_preference", "ideal judge, policy trained on its reward")
    axes[1].axhline(0.5, linestyle=":", color="grey")
    axes[1].set_title("preference for the policy over the baseline")
    for name in ("greedy", "minimax", "learned", "random"):
        draw(axes[2], f"robustness_{name}", name)
    axes[2].set_title("arguer win rate against the confuser")
    for axis in axes:
        axis.set_xlabel("lambda")
        axis.legend(fontsize=8)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    return path
