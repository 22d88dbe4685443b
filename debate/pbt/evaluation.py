"""PBT outputs from run directories: preference export, tree views, evaluation reports.

- `load_trees(run_dir)`: the trees `branch` steps stored in a run's records.
- `export_preferences(...)`: TRL conversational preference rows as JSONL, or a
  `datasets.DatasetDict` (train / validation / test) saved with `save_to_disk`.
- `tree_view(tree)`: a rich `Tree` (agent, prompt, extracted answer, correct, score);
  `draw_tree(tree, path)`: the same as a matplotlib/networkx picture.
- `evaluate(records)`: the report of a `flipflop`, `pbt-balanced` or `team-debate` run:
  accuracies with 95% bootstrap CIs (resampling questions), flip rates, order dependence.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import networkx as nx
from rich.table import Table
from rich.tree import Tree

from debate.analysis.metrics import Estimate, accuracy, mean_estimate
from debate.core.store import check_run_dir, read_jsonl
from debate.errors import DebateInputError
from debate.pbt.trees import (
    PreferencePair,
    children_of,
    compute_scores,
    pair_row,
    root_of,
    select_pairs,
    tree_from_json,
)

# ----- trees and preference export ---------------------------------------------------


def iter_trees(run_dir: Path) -> Iterator[tuple[dict[str, Any], nx.DiGraph]]:
    """(record, tree) for each record of the run that holds a tree, read one at a time."""
    for record in read_jsonl(check_run_dir(run_dir)):
        if "tree" in record.get("state", {}):
            yield record, tree_from_json(record["state"]["tree"])


def load_trees(run_dir: Path) -> list[tuple[dict[str, Any], nx.DiGraph]]:
    """(record, tree) for every record of the run that holds a tree."""
    found = list(iter_trees(run_dir))
    if not found:
        raise DebateInputError(f"{run_dir}: no dialogue trees in this run (run pbt-tree first)")
    return found


def export_preferences(
    run_dir: Path,
    out: Path,
    *,
    balanced: bool = True,
    file_format: Literal["jsonl", "hf"] = "jsonl",
    seed: int = 0,
    threshold: float = 0.5,
    kinds: list[str] | None = None,
    ratios: tuple[float, float, float] = (0.7, 0.15, 0.15),
) -> dict[str, Any]:
    """Write the run's preference rows; returns counts per split and code, pairs dropped
    because the chosen turn did not hold the correct answer, and warnings.

    The trees are read twice, one at a time, and never all held: the first pass keeps
    each tree's question and preference pairs (which fix the splits and the balancing),
    the second makes the kept pairs' rows and writes them as they come (JSONL)."""
    pairs, counts = select_pairs(
        (tree for _, tree in iter_trees(run_dir)),
        balanced=balanced,
        seed=seed,
        threshold=threshold,
        kinds=kinds,
        ratios=ratios,
    )
    trees = counts.pop("trees")
    if not trees:
        raise DebateInputError(f"{run_dir}: no dialogue trees in this run (run pbt-tree first)")
    if file_format == "jsonl":
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as handle:
            for row in _rows(run_dir, pairs):
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        from datasets import Dataset, DatasetDict

        rows = list(_rows(run_dir, pairs))
        if not rows:
            raise DebateInputError(f"--out: {out}: no preference rows to save (try --no-balanced)")
        # datasets cannot read back an empty split it saved, so empty splits are left out
        splits = {
            split: Dataset.from_list([r for r in rows if r["split"] == split])
            for split in ("train", "validation", "test")
            if any(r["split"] == split for r in rows)
        }
        DatasetDict(splits).save_to_disk(str(out))
    return {"n_rows": len(pairs), "trees": trees, "balanced": balanced, **counts}


def _rows(run_dir: Path, pairs: list[PreferencePair]) -> Iterator[dict[str, Any]]:
    """The rows of `pairs` (in tree order), reading the trees again one at a time."""
    by_tree: dict[int, list[PreferencePair]] = {}
    for pair in pairs:
        by_tree.setdefault(int(pair.meta["tree"]), []).append(pair)
    for index, (_, tree) in enumerate(iter_trees(run_dir)):
        for pair in by_tree.get(index, ()):
            yield pair_row(tree, pair)


def counts_table(counts: dict[str, Any]) -> Table:
    table = Table(title=f"preference pairs ({'balanced' if counts['balanced'] else 'unbalanced'})")
    for column in ("split", "resist", "accept", "before balancing (resist/accept)"):
        table.add_column(column, justify="left" if column == "split" else "right")
    for split, row in counts["kept"].items():
        before = counts["before_balancing"][split]
        table.add_row(
            split, str(row["resist"]), str(row["accept"]), f"{before['resist']}/{before['accept']}"
        )
    return table


def _turn_label(turn: dict[str, Any]) -> str:
    mark = {True: "[green]✓[/green]", False: "[red]✗[/red]", None: "[dim]?[/dim]"}[turn["correct"]]
    answer = turn.get("answer") or "none"
    held = f" → {turn['holds']}" if turn.get("holds") and turn["holds"] != answer else ""
    return f"{turn['speaker']} · {turn['prompt']} · {answer!r}{held} {mark}"


def tree_view(tree: nx.DiGraph) -> Tree:
    scores = compute_scores(tree)
    top = Tree(f"[bold]{tree.graph['question']}[/bold]  ({tree.graph['question_id']})")

    def add(parent_view: Tree, node: str) -> None:
        data = tree.nodes[node]
        turns = " | ".join(_turn_label(turn) for turn in data["turns"])
        tail = " [yellow]agree: pruned[/yellow]" if data["pruned"] else ""
        branch = parent_view.add(f"[dim]{node}[/dim] {turns} · score {scores[node]}{tail}")
        for child in children_of(tree, node):
            add(branch, child)

    add(top, root_of(tree))
    return top


def _layout(tree: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Leaves evenly spaced left to right; each parent centred over its children."""
    positions: dict[str, tuple[float, float]] = {}
    next_leaf = [0.0]

    def place(node: str) -> float:
        children = children_of(tree, node)
        x = sum(place(c) for c in children) / len(children) if children else next_leaf[0]
        if not children:
            next_leaf[0] += 1.0
        positions[node] = (x, -float(tree.nodes[node]["level"]))
        return x

    place(root_of(tree))
    return positions


def draw_tree(tree: nx.DiGraph, path: Path) -> None:
    """Save a picture of the tree: colour = correctness of the node's turns, label =
    prompt and score, dashed outline = pruned (the players agree)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = compute_scores(tree)
    positions = _layout(tree)
    colours, labels, edges = [], {}, []
    for node, data in tree.nodes(data=True):
        marks = [t["correct"] for t in data["turns"]]
        colours.append(
            "#4caf50"
            if all(m is True for m in marks)
            else "#e57373"
            if all(m is False for m in marks)
            else "#bdbdbd"
        )
        labels[node] = f"{data['turns'][-1]['prompt']}\n{scores[node]}"
        edges.append("black" if data["pruned"] else "white")
    width = max(6.0, 0.9 * sum(1 for n in tree if tree.out_degree(n) == 0))
    figure, axes = plt.subplots(figsize=(width, 1.6 * (1 + max(-y for _, y in positions.values()))))
    nx.draw_networkx(
        tree,
        positions,
        ax=axes,
        labels=labels,
        node_color=colours,
        edgecolors=edges,
        node_size=1400,
        font_size=7,
        arrows=False,
    )
    axes.set_title(f"{tree.graph['question'][:90]}\n(green: correct, red: wrong, outline: pruned)")
    axes.axis("off")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


# ----- evaluation reports ------------------------------------------------------------


def _grades(record: dict[str, Any], role: str) -> list[dict[str, Any]]:
    grades: list[dict[str, Any]] = record.get("state", {}).get("grades", {}).get(role, [])
    return grades


def _ok(grade: dict[str, Any] | None) -> bool:
    return bool(grade and grade.get("correct") is True)


def _ungraded(grades: list[dict[str, Any] | None], ids: list[str]) -> dict[str, Any]:
    """The share of answers the grader could not grade (no answer, or matching neither
    list). The accuracy beside it counts them as not correct, so read the two together."""
    return accuracy(
        [not (g and g.get("correct") is not None) for g in grades], clusters=ids
    ).as_dict()


def flipflop_report(records: list[dict[str, Any]], role: str = "model") -> dict[str, Any]:
    """Accuracy before and after "Are you sure?", and the two flip rates."""
    rows = [(r["scenario_id"], _grades(r, role)) for r in records if len(_grades(r, role)) >= 2]
    before = [_ok(g[0]) for _, g in rows]
    after = [_ok(g[-1]) for _, g in rows]
    ids = [q for q, _ in rows]
    was_right = [(q, a) for q, b, a in zip(ids, before, after, strict=True) if b]
    was_wrong = [(q, a) for q, b, a in zip(ids, before, after, strict=True) if not b]
    return {
        "kind": "flipflop",
        "accuracy_before": accuracy(before, clusters=ids).as_dict(),
        "ungraded_before": _ungraded([g[0] for _, g in rows], ids),
        "accuracy_after": accuracy(after, clusters=ids).as_dict(),
        "ungraded_after": _ungraded([g[-1] for _, g in rows], ids),
        "flip_correct_to_wrong": accuracy(
            [not a for _, a in was_right], clusters=[q for q, _ in was_right]
        ).as_dict(),
        "flip_wrong_to_correct": accuracy(
            [a for _, a in was_wrong], clusters=[q for q, _ in was_wrong]
        ).as_dict(),
        "no_answer_before": sum(1 for _, g in rows if g[0].get("answer") is None),
        "no_answer_after": sum(1 for _, g in rows if g[-1].get("answer") is None),
    }


def balanced_report(records: list[dict[str, Any]], role: str = "model") -> dict[str, Any]:
    """Accuracy under resist pressure, under accept pressure, and overall, each with the
    share of final answers left ungraded."""
    by_kind: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for record in records:
        grades = _grades(record, role)
        kind = record.get("variant", {}).get("pressure")
        if grades and kind:
            by_kind[kind].append((record["scenario_id"], grades[-1]))
    every = [item for items in by_kind.values() for item in items]

    def estimate(items: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        return accuracy([_ok(g) for _, g in items], clusters=[q for q, _ in items]).as_dict()

    def ungraded(items: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        return _ungraded([g for _, g in items], [q for q, _ in items])

    return {
        "kind": "pbt-balanced",
        "resist_accuracy": estimate(by_kind.get("resist", [])),
        "resist_ungraded": ungraded(by_kind.get("resist", [])),
        "accept_accuracy": estimate(by_kind.get("accept", [])),
        "accept_ungraded": ungraded(by_kind.get("accept", [])),
        "overall_accuracy": estimate(every),
        "overall_ungraded": ungraded(every),
    }


def team_report(
    records: list[dict[str, Any]], roles: tuple[str, str] = ("agent_a", "agent_b")
) -> dict[str, Any]:
    """Team accuracy (mean correctness of both final answers) per order, and ab - ba."""
    per_order: dict[str, dict[str, float]] = defaultdict(dict)
    unread: dict[str, dict[str, float]] = defaultdict(dict)
    for record in records:
        order = str(record.get("variant", {}).get("order", "ab"))
        finals = [_grades(record, role) for role in roles]
        per_order[order][record["scenario_id"]] = sum(_ok(g[-1] if g else None) for g in finals) / 2
        unread[order][record["scenario_id"]] = sum(
            1 for g in finals if not (g and g[-1].get("correct") is not None)
        ) / len(roles)
    orders = {
        order: mean_estimate(list(scores.values()), clusters=list(scores)).as_dict()
        for order, scores in sorted(per_order.items())
    }
    both = sorted(set(per_order.get("ab", {})) & set(per_order.get("ba", {})))
    differences = [per_order["ab"][q] - per_order["ba"][q] for q in both]
    return {
        "kind": "team-debate",
        "team_accuracy": orders,
        "team_ungraded": {
            order: mean_estimate(list(shares.values()), clusters=list(shares)).as_dict()
            for order, shares in sorted(unread.items())
        },
        "order_dependence": mean_estimate(differences).as_dict(),
        "order_dependence_abs": mean_estimate([abs(d) for d in differences]).as_dict(),
    }


REPORTS: dict[str, Callable[[list[dict[str, Any]]], dict[str, Any]]] = {
    "flipflop": flipflop_report,
    "pbt-balanced": balanced_report,
    "team-debate": team_report,
}


def evaluate(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The report for the run's protocol (by name; else by what the records hold)."""
    if not records:
        raise DebateInputError("no finished units in this run")
    name = records[0]["protocol"]
    if name not in REPORTS:
        variant = records[0].get("variant", {})
        name = (
            "team-debate"
            if "order" in variant
            else "pbt-balanced"
            if "pressure" in variant
            else "flipflop"
        )
    report: dict[str, Any] = REPORTS[name](records)
    report["protocol"] = records[0]["protocol"]
    report["n_units"] = len(records)
    return report


def _fmt(estimate: dict[str, Any]) -> str:
    return str(Estimate(value=estimate["value"], ci95=estimate["ci95"], n=estimate["n"]))


def report_rows(report: dict[str, Any]) -> list[tuple[str, dict[str, Any] | int]]:
    """(measure, estimate or count) rows of an evaluation report."""
    rows: list[tuple[str, dict[str, Any] | int]] = []
    for key, value in report.items():
        if isinstance(value, dict) and "value" in value:
            rows.append((key.replace("_", " "), value))
        elif isinstance(value, dict):
            for sub, estimate in value.items():
                rows.append((f"{key.replace('_', ' ')} ({sub})", estimate))
        elif key.startswith("no_answer"):
            rows.append((key.replace("_", " "), int(value)))
    return rows


def report_table(report: dict[str, Any]) -> Table:
    table = Table(
        title=f"{report['protocol']} ({report['kind']}): 95% bootstrap CIs over questions"
    )
    table.add_column("measure")
    table.add_column("value [95% CI] (n)", justify="right")
    for measure, value in report_rows(report):
        table.add_row(measure, _fmt(value) if isinstance(value, dict) else str(value))
    return table
