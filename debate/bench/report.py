"""Per-cell judge metrics of a benchmark, and the combined report (markdown and rich tables).

A cell is one run directory (one protocol, judge, debaters, scenario set and seed).
`cell_metrics(records)` turns its records into estimates, each with n and a 95% bootstrap
CI from `debate.analysis.metrics`:

- judge accuracy (invalid verdicts count as wrong; CIs resample whole questions, so both
  answer orders of a question move together);
- invalid rate;
- accuracy by the position of the correct answer;
- swap disagreement: how often the chosen answer differs between the two answer orders;
- calibration over valid verdicts: Brier score of p(correct), ECE of the chosen answer's
  confidence and the reliability bins;
- for protocols with exactly one role defending an answer (consultancy): accuracy split by
  whether that role defended the correct answer.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from debate.analysis.metrics import (
    Estimate,
    accuracy,
    accuracy_by_position,
    brier_estimate,
    chosen_confidence,
    ece_estimate,
    mean_estimate,
    reliability_bins,
    swap_disagreement,
)
from debate.bench.comparisons import comparison_markdown
from debate.core.record import LABELS


def _final(record: dict[str, Any]) -> dict[str, Any] | None:
    final = record.get("final_verdict")
    return final if isinstance(final, dict) else None


def _valid_probs(record: dict[str, Any]) -> list[float] | None:
    final = _final(record)
    if final is None or not final.get("valid") or not final.get("probs"):
        return None
    return [float(p) for p in final["probs"]]


def _original_index(record: dict[str, Any], shown_index: int) -> int:
    """The index of an answer in the unswapped order (2-answer swaps reverse the list)."""
    if record.get("swap") and len(record.get("answers", [])) == 2:
        return 1 - shown_index
    return shown_index


def _cluster(record: dict[str, Any]) -> str:
    """The resampling cluster: the question (pooled cells tag it with their scenario set)."""
    return str(record.get("bench_cluster") or record["scenario_id"])


def _item_key(record: dict[str, Any]) -> tuple[str, str, str, int]:
    return (
        str(record.get("bench_cell", "")),
        str(record["scenario_id"]),
        json.dumps(record.get("variant") or {}, sort_keys=True),
        int(record.get("repeat", 0)),
    )


def lone_defender(record: dict[str, Any]) -> str | None:
    """The only role defending an answer (the consultant), else None."""
    defenders = [role for role, index in (record.get("defends") or {}).items() if index is not None]
    return defenders[0] if len(defenders) == 1 else None


def scored_records(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records with a final verdict and a known correct answer."""
    return [r for r in records if _final(r) is not None and r.get("correct_index") is not None]


def cell_metrics(
    records: Sequence[dict[str, Any]],
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Every judge metric of one cell (or of pooled cells), as JSON-ready dicts.

    Pooled records may carry `bench_cell` (which cell) and `bench_cluster` (the question
    across cells) so that swap pairs stay within a cell and CIs resample whole questions.
    """
    scored = scored_records(records)
    clusters = [_cluster(r) for r in scored]
    correct = [bool(r.get("correct")) for r in scored]
    invalid = [0.0 if _valid_probs(r) is not None else 1.0 for r in scored]
    out: dict[str, Any] = {
        "n_units": len(records),
        "accuracy": accuracy(correct, clusters=clusters, resamples=resamples, seed=seed).as_dict(),
        "invalid_rate": mean_estimate(
            invalid, clusters=clusters, resamples=resamples, seed=seed
        ).as_dict(),
        "accuracy_by_correct_position": {
            LABELS[position]: estimate.as_dict()
            for position, estimate in accuracy_by_position(
                correct,
                [int(r["correct_index"]) for r in scored],
                resamples=resamples,
                seed=seed,
            ).items()
        },
    }
    by_item: dict[tuple[str, str, str, int], dict[bool, dict[str, Any]]] = defaultdict(dict)
    for record in scored:
        by_item[_item_key(record)][bool(record.get("swap"))] = record
    pairs: list[tuple[int, int]] = []
    for orders in by_item.values():
        if len(orders) == 2:
            chosen = [_final(orders[swapped]) for swapped in (False, True)]
            if all(c and c.get("valid") and c.get("chosen") is not None for c in chosen):
                original = _original_index(orders[False], int(chosen[0]["chosen"]))  # type: ignore[index]
                swapped = _original_index(orders[True], int(chosen[1]["chosen"]))  # type: ignore[index]
                pairs.append((original, swapped))
    out["swap_disagreement"] = swap_disagreement(pairs, resamples=resamples, seed=seed).as_dict()
    valid = [r for r in scored if _valid_probs(r) is not None]
    probs = [_valid_probs(r) or [] for r in valid]
    gold = [int(r["correct_index"]) for r in valid]
    valid_clusters = [_cluster(r) for r in valid]
    p_correct = [row[g] for row, g in zip(probs, gold, strict=True)]
    out["brier"] = (
        brier_estimate(
            p_correct, [1.0] * len(valid), clusters=valid_clusters, resamples=resamples, seed=seed
        ).as_dict()
        if valid
        else Estimate(value=None, ci95=None, n=0).as_dict()
    )
    confidences, hits = chosen_confidence(probs, gold)
    out["ece"] = ece_estimate(
        confidences, hits, clusters=valid_clusters, resamples=resamples, seed=seed
    ).as_dict()
    out["reliability"] = [b.model_dump() for b in reliability_bins(confidences, hits)]
    defended: dict[str, list[bool]] = {"correct": [], "incorrect": []}
    for record in scored:
        role = lone_defender(record)
        if role is None:
            continue
        right = record["defends"][role] == record["correct_index"]
        defended["correct" if right else "incorrect"].append(bool(record.get("correct")))
    if defended["correct"] or defended["incorrect"]:
        out["accuracy_by_defended"] = {
            side: accuracy(values, resamples=resamples, seed=seed).as_dict()
            for side, values in defended.items()
        }
    return out


# ---------------------------------------------------------------- rendering


def fmt(estimate: dict[str, Any] | None, digits: int = 3) -> str:
    """`value [lo, hi]` or `n/a`."""
    if not estimate or estimate.get("value") is None:
        return "n/a"
    value = f"{estimate['value']:.{digits}f}"
    ci = estimate.get("ci95")
    return f"{value} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else value


COLUMNS: list[tuple[str, str]] = [
    ("protocol", "protocol"),
    ("judge", "judge"),
    ("debaters", "debaters"),
    ("scenarios", "scenarios"),
    ("seed", "seed"),
]


def _stacked(estimate: dict[str, Any] | None) -> str:
    """Two lines for terminal tables: the value, then the CI."""
    if not estimate or estimate.get("value") is None:
        return "n/a"
    ci = estimate.get("ci95")
    return (
        f"{estimate['value']:.2f}\n[{ci[0]:.2f},{ci[1]:.2f}]" if ci else f"{estimate['value']:.2f}"
    )


def _metric_cells(metrics: dict[str, Any], terminal: bool = False) -> list[str]:
    show = _stacked if terminal else fmt
    positions = metrics.get("accuracy_by_correct_position", {})
    defended = metrics.get("accuracy_by_defended")
    return [
        str(metrics["accuracy"]["n"]),
        show(metrics["accuracy"]),
        show(metrics["invalid_rate"]),
        show(positions.get("A")),
        show(positions.get("B")),
        show(metrics["swap_disagreement"]),
        show(metrics["brier"]),
        show(metrics["ece"]),
        show(defended["correct"]) if defended else "",
        show(defended["incorrect"]) if defended else "",
    ]


SHORT_HEADERS = [
    "n",
    "acc",
    "invalid",
    "acc|A",
    "acc|B",
    "swap≠",
    "Brier",
    "ECE",
    "acc|def✓",
    "acc|def✗",
]
CAPTION = (
    "acc|A: accuracy when the correct answer is A; swap≠: swap disagreement; "
    "acc|def✓/✗: the consultant defended the correct/wrong answer"
)
METRIC_HEADERS = [
    "n",
    "accuracy",
    "invalid rate",
    "acc (correct=A)",
    "acc (correct=B)",
    "swap disagreement",
    "Brier",
    "ECE",
    "acc (defends correct)",
    "acc (defends wrong)",
]


def cells_table(cells: Sequence[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    for header in [label for _, label in COLUMNS]:
        table.add_column(header, overflow="fold")
    for header in SHORT_HEADERS:
        table.add_column(header, justify="right", min_width=5 if header == "n" else 11)
    for cell in cells:
        table.add_row(
            *[str(cell[key]) for key, _ in COLUMNS], *_metric_cells(cell["metrics"], terminal=True)
        )
    return table


def pooled_table(groups: Sequence[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    table.add_column("protocol", overflow="fold")
    table.add_column("judge", overflow="fold")
    for header in SHORT_HEADERS:
        table.add_column(header, justify="right", min_width=5 if header == "n" else 11)
    for group in groups:
        table.add_row(
            group["protocol"], group["judge"], *_metric_cells(group["metrics"], terminal=True)
        )
    table.caption = CAPTION
    return table


def ratings_table(ratings: dict[str, Any], title: str) -> Table:
    table = Table(title=title)
    for header in ("debater", "Bradley-Terry", "Elo", "matches", "judge accuracy"):
        table.add_column(header, justify="left" if header == "debater" else "right")
    for name, entry in ratings.items():
        table.add_row(
            name,
            fmt(entry["bradley_terry"], 0),
            fmt(entry["elo"], 0),
            str(entry["bradley_terry"]["n"]),
            fmt(entry.get("judge_accuracy")),
        )
    return table


def _markdown(headers: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def markdown_report(result: dict[str, Any], plots: dict[str, str]) -> str:
    """report.md of a benchmark: the pooled and per-cell tables, ratings and plots."""
    lines = [f"# Benchmark: {result['name']}", ""]
    if result.get("description"):
        lines += [result["description"], ""]
    lines += [
        "Every figure is `value [95% bootstrap CI]`; n counts judged units (both answer orders "
        "of a question are two units and are resampled together). Invalid verdicts count as "
        "wrong. Brier and ECE use valid verdicts only.",
        "",
        "## Protocol × judge (pooled over debaters, scenario sets and seeds)",
        "",
    ]
    lines += _markdown(
        ["protocol", "judge", *METRIC_HEADERS],
        [[g["protocol"], g["judge"], *_metric_cells(g["metrics"])] for g in result["pooled"]],
    )
    lines += ["", "## Cells", ""]
    lines += _markdown(
        [label for _, label in COLUMNS] + METRIC_HEADERS + ["run directory", "wall s"],
        [
            [str(c[key]) for key, _ in COLUMNS]
            + _metric_cells(c["metrics"])
            + [f"cells/{Path(c['dir']).name}", f"{c.get('wall_s', 0.0):.1f}"]
            for c in result["cells"]
        ],
    )
    tournament = result.get("tournament")
    if tournament:
        lines += ["", f"## Debater ratings ({tournament['format']}, judge {tournament['judge']})"]
        lines += [
            "",
            "Outcome of a match: the judge's probability for the answer a debater defended. "
            "Ratings on the Elo scale with 95% bootstrap CIs over matches. Judge accuracy: "
            "in the debates this debater took part in.",
            "",
        ]
        lines += _markdown(
            ["debater", "Bradley-Terry", "Elo", "matches", "judge accuracy"],
            [
                [
                    name,
                    fmt(e["bradley_terry"], 0),
                    fmt(e["elo"], 0),
                    str(e["bradley_terry"]["n"]),
                    fmt(e.get("judge_accuracy")),
                ]
                for name, e in tournament["ratings"].items()
            ],
        )
    lines += comparison_markdown(result)
    if plots:
        lines += ["", "## Plots", ""]
        lines += [f"![{title}]({path})" for title, path in plots.items()]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- debater ratings


def match_outcomes(
    games: Sequence[tuple[str, str, Sequence[dict[str, Any]]]], seats: tuple[str, str]
) -> list[tuple[str, str, float]]:
    """(debater in seat 1, debater in seat 2, judge's probability for seat 1's answer) per
    unit with a valid final verdict, in the order played; self-play is left out."""
    matches: list[tuple[str, str, float]] = []
    for first, second, records in games:
        if first == second:
            continue
        for record in records:
            probs = _valid_probs(record)
            index = (record.get("defends") or {}).get(seats[0])
            if probs is not None and index is not None:
                matches.append((first, second, probs[int(index)]))
    return matches


def debater_ratings(
    games: Sequence[tuple[str, str, Sequence[dict[str, Any]]]],
    seats: tuple[str, str],
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Bradley-Terry and Elo ratings (95% bootstrap CIs over matches when `resamples` > 0)
    and the judge's accuracy in each debater's games (self-play games only, when played)."""
    from debate.analysis.ratings import bradley_terry, elo_ratings, rating_estimates

    matches = match_outcomes(games, seats)
    players = list(dict.fromkeys(name for a, b, _ in games for name in (a, b)))
    if matches and resamples > 0:
        bt = rating_estimates(matches, bradley_terry, resamples=resamples, seed=seed)
        elo = rating_estimates(matches, elo_ratings, resamples=resamples, seed=seed)
    else:
        fitted = bradley_terry(matches) if matches else {}
        bt = {p: Estimate(value=v, ci95=None, n=0) for p, v in fitted.items()}
        elo = {}
    ratings: dict[str, Any] = {}
    for player in players:
        own = [r for a, b, recs in games if a == b == player for r in recs]
        source = "self-play"
        if not own:
            own = [r for a, b, recs in games if player in (a, b) for r in recs]
            source = "all games"
        scored = scored_records(own)
        ratings[player] = {
            "bradley_terry": bt.get(player, Estimate(value=None, ci95=None, n=0)).as_dict(),
            "elo": elo.get(player, Estimate(value=None, ci95=None, n=0)).as_dict(),
            "judge_accuracy": accuracy(
                [bool(r.get("correct")) for r in scored],
                clusters=[_cluster(r) for r in scored],
                resamples=max(resamples, 100),
                seed=seed,
            ).as_dict(),
            "judge_accuracy_from": source,
        }
    return {"n_matches": len(matches), "ratings": ratings}
