"""Persuasion-balanced dialogue trees (PBT): answers, scores, pruning, preference pairs.

Pure functions over `networkx.DiGraph` trees, kept apart from the engine so each rule
can be checked against hand-computed values:

- **Answers.** Read and graded by `debate.analysis.answers`; `resolve_turn` turns
  Agree/Disagree into the answer the speaker now holds.
- **Nodes.** A node is one dialogue turn (the root holds both opening answers). Its
  `standing` is what each player holds after it; `agree` (both hold the same answer)
  makes it a leaf when pruning is on.
- **Scores.** `score(node)` = correct answers in the node's own turns + its children's
  scores (the number of correct agent answers in its subtree).
- **Pairs.** Siblings a, b with |score_a - score_b| / max(score_a, score_b) > threshold
  give (chosen = higher, rejected = lower), coded `resist` when the speaker's answer
  before the turn was correct (it must stay right) and `accept` otherwise. A pair whose
  chosen turn does not hold the correct answer (a wrong or ungraded one) is dropped and
  counted: a chosen response never accepts the wrong answer.
- **Data set.** `assign_splits` splits questions 70/15/15 (or given fractions); `balance` keeps
  min(#resist, #accept) of each code per split; `preference_rows` builds TRL
  conversational preference rows whose prompt is the neutral (un-branched) chat.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Literal

import networkx as nx

from debate.analysis.answers import AGREE, DISAGREE, Gold, extract_answer, grade_answer

Code = Literal["resist", "accept"]
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Holding:
    """The answer a player holds at some point of the dialogue."""

    answer: str | None
    key: str | None
    correct: bool | None

    def as_dict(self) -> dict[str, Any]:
        return {"answer": self.answer, "key": self.key, "correct": self.correct}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Holding:
        return cls(data.get("answer"), data.get("key"), data.get("correct"))


NO_ANSWER = Holding(None, None, None)


def resolve_turn(answer: str | None, gold: Gold, own: Holding, other: Holding) -> Holding:
    """What the speaker holds after a turn: `Agree` adopts the other's answer, `Disagree`
    or no answer keeps its own, anything else is graded afresh."""
    if answer == AGREE:
        return other
    if answer == DISAGREE or not answer:
        return own
    grade = grade_answer(answer, gold)
    return Holding(answer, grade.key, grade.correct)


def replay_holdings(turns: Iterable[tuple[str, str]], gold: Gold) -> dict[str, Holding]:
    """What each role holds after a linear dialogue of (role, text) turns; `Agree` adopts
    the answer of the latest other speaker."""
    held: dict[str, Holding] = {}
    order: list[str] = []
    for role, text in turns:
        other = next((r for r in reversed(order) if r != role), None)
        other_holds = held[other] if other is not None else NO_ANSWER
        held[role] = resolve_turn(
            extract_answer(text), gold, held.get(role, NO_ANSWER), other_holds
        )
        order.append(role)
    return held


def holdings_agree(a: Holding, b: Holding) -> bool:
    """Both hold an answer and it is the same one (same key, or both graded correct)."""
    if a.key is None or b.key is None:
        return False
    return a.key == b.key or (a.correct is True and b.correct is True)


# ----- building trees ----------------------------------------------------------------


def new_tree(question_id: str, question: str, **attrs: Any) -> nx.DiGraph:
    tree = nx.DiGraph()
    tree.graph.update(question_id=question_id, question=question, **attrs)
    return tree


def child_id(parent: str, index: int) -> str:
    return f"{parent}.{index}"


def add_node(
    tree: nx.DiGraph,
    node: str,
    *,
    parent: str | None,
    level: int,
    kind: str,
    turns: list[dict[str, Any]],
    standing: dict[str, Holding],
    prune: bool = True,
) -> bool:
    """Add a node; returns whether it is expanded further (False when the players agree
    and pruning is on). Each turn: role, speaker, prompt, text, answer, holds, correct."""
    held = list(standing.values())
    agree = len(held) == 2 and holdings_agree(held[0], held[1])
    tree.add_node(
        node,
        level=level,
        kind=kind,
        turns=turns,
        standing={role: h.as_dict() for role, h in standing.items()},
        agree=agree,
        pruned=agree and prune,
    )
    if parent is not None:
        tree.add_edge(parent, node)
    return not (agree and prune)


def standing_of(tree: nx.DiGraph, node: str) -> dict[str, Holding]:
    return {role: Holding.from_dict(h) for role, h in tree.nodes[node]["standing"].items()}


def path_turns(tree: nx.DiGraph, node: str, viewer: str | None = None) -> list[dict[str, Any]]:
    """Every turn from the root down to `node`, in order. The opening answers were given
    independently, so `viewer`'s own opening comes first in its view."""
    path = nx.shortest_path(tree, root_of(tree), node)
    turns: list[dict[str, Any]] = []
    for step in path:
        own_first = sorted(tree.nodes[step]["turns"], key=lambda t: t["role"] != viewer)
        turns += own_first if step == path[0] else tree.nodes[step]["turns"]
    return turns


def root_of(tree: nx.DiGraph) -> str:
    return next(node for node, degree in tree.in_degree() if degree == 0)


def children_of(tree: nx.DiGraph, node: str) -> list[str]:
    return sorted(tree.successors(node), key=lambda n: int(n.rsplit(".", 1)[-1]))


def compute_scores(tree: nx.DiGraph) -> dict[str, int]:
    """Score every node (stored as node attribute `score`) and return them."""
    scores: dict[str, int] = {}
    for node in reversed(list(nx.topological_sort(tree))):
        own = sum(1 for turn in tree.nodes[node]["turns"] if turn.get("correct") is True)
        scores[node] = own + sum(scores[child] for child in tree.successors(node))
        tree.nodes[node]["score"] = scores[node]
    return scores


def tree_to_json(tree: nx.DiGraph) -> dict[str, Any]:
    data: dict[str, Any] = nx.node_link_data(tree, edges="edges")
    return data


def tree_from_json(data: dict[str, Any]) -> nx.DiGraph:
    tree: nx.DiGraph = nx.node_link_graph(data, directed=True, edges="edges")
    return tree


# ----- preference pairs --------------------------------------------------------------


@dataclass
class PreferencePair:
    question_id: str
    parent: str
    chosen: str
    rejected: str
    chosen_score: int
    rejected_score: int
    code: Code
    speaker: str
    split: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def keeps_pair(score_a: int, score_b: int, threshold: float = 0.5) -> bool:
    """The Δscore rule: |a - b| / max(a, b) > threshold (never when both are 0)."""
    top = max(score_a, score_b)
    return top > 0 and abs(score_a - score_b) / top > threshold


def preference_pairs(
    tree: nx.DiGraph,
    threshold: float = 0.5,
    kinds: Sequence[str] | None = None,
    dropped: Counter[str] | None = None,
    chosen_must_hold_correct: bool = True,
) -> list[PreferencePair]:
    """Sibling pairs passing the Δscore rule, chosen = higher score, coded resist/accept.
    Unless `chosen_must_hold_correct` is off (the paper's rule alone), pairs whose
    chosen turn holds a wrong or ungraded answer are left out (counted in `dropped`
    under "chosen_wrong" and "chosen_ungraded")."""
    scores = compute_scores(tree)
    pairs: list[PreferencePair] = []
    for parent in nx.topological_sort(tree):
        children = children_of(tree, parent)
        for a, b in combinations(children, 2):
            if kinds is not None and tree.nodes[a]["kind"] not in kinds:
                continue
            if not keeps_pair(scores[a], scores[b], threshold):
                continue
            chosen, rejected = (a, b) if scores[a] > scores[b] else (b, a)
            holds = tree.nodes[chosen]["turns"][0].get("correct")
            if chosen_must_hold_correct and holds is not True:
                if dropped is not None:
                    dropped["chosen_wrong" if holds is False else "chosen_ungraded"] += 1
                continue
            speaker = tree.nodes[a]["turns"][0]["role"]
            before = standing_of(tree, parent).get(speaker, NO_ANSWER)
            pairs.append(
                PreferencePair(
                    question_id=str(tree.graph["question_id"]),
                    parent=parent,
                    chosen=chosen,
                    rejected=rejected,
                    chosen_score=scores[chosen],
                    rejected_score=scores[rejected],
                    code="resist" if before.correct is True else "accept",
                    speaker=speaker,
                )
            )
    return pairs


def assign_splits(
    question_ids: Iterable[str],
    seed: int = 0,
    ratios: tuple[float, float, float] = (0.7, 0.15, 0.15),
) -> dict[str, str]:
    """Seeded split of questions: round(n·train) train, round(n·val) validation, rest test."""
    if len(ratios) != 3 or any(r < 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must be three numbers >= 0 summing to 1: {ratios}")
    ids = sorted(set(question_ids))
    random.Random(seed).shuffle(ids)
    n = len(ids)
    n_train = min(n, int(n * ratios[0] + 0.5))
    n_val = min(n - n_train, int(n * ratios[1] + 0.5))
    return {
        qid: SPLITS[0] if i < n_train else SPLITS[1] if i < n_train + n_val else SPLITS[2]
        for i, qid in enumerate(ids)
    }


def balance(pairs: Sequence[PreferencePair], seed: int = 0) -> list[PreferencePair]:
    """Keep min(#resist, #accept) pairs of each code within each split (seeded choice,
    original order kept)."""
    rng = random.Random(seed)
    keep: set[int] = set()
    for split in sorted({p.split for p in pairs}):
        by_code: dict[str, list[int]] = {"resist": [], "accept": []}
        for i, pair in enumerate(pairs):
            if pair.split == split:
                by_code[pair.code].append(i)
        k = min(len(v) for v in by_code.values())
        for indices in by_code.values():
            keep.update(rng.sample(indices, k))
    return [pair for i, pair in enumerate(pairs) if i in keep]


def count_pairs(pairs: Iterable[PreferencePair]) -> dict[str, dict[str, int]]:
    """{split: {code: n}} including every split and code."""
    counts = Counter((p.split, p.code) for p in pairs)
    return {s: {c: counts[(s, c)] for c in ("resist", "accept")} for s in SPLITS}


# ----- rows --------------------------------------------------------------------------


def neutral_prompt(tree: nx.DiGraph, parent: str, speaker: str) -> list[dict[str, str]]:
    """The chat `speaker` would see at `parent` without any branching prompt: its neutral
    system prompt, the question, the path so far (own turns as assistant), the neutral
    follow-up instruction."""
    neutral = tree.graph["neutral"][speaker]
    turns: list[tuple[str, str]] = [("user", neutral["opening"])]
    for turn in path_turns(tree, parent, speaker):
        if turn["role"] == speaker:
            turns.append(("assistant", turn["text"]))
        else:
            turns.append(("user", f"{turn['speaker']}: {turn['text']}"))
    turns.append(("user", neutral["instruction"]))
    messages = [{"role": "system", "content": neutral["system"]}]
    for role, text in turns:
        if messages[-1]["role"] == role:
            messages[-1]["content"] += f"\n\n{text}"
        else:
            messages.append({"role": role, "content": text})
    return messages


def pair_row(tree: nx.DiGraph, pair: PreferencePair) -> dict[str, Any]:
    """One TRL conversational preference row (plus provenance columns)."""
    chosen, rejected = tree.nodes[pair.chosen], tree.nodes[pair.rejected]
    return {
        "prompt": neutral_prompt(tree, pair.parent, pair.speaker),
        "chosen": [{"role": "assistant", "content": chosen["turns"][0]["text"]}],
        "rejected": [{"role": "assistant", "content": rejected["turns"][0]["text"]}],
        "code": pair.code,
        "chosen_score": pair.chosen_score,
        "rejected_score": pair.rejected_score,
        "question_id": pair.question_id,
        "split": pair.split,
        "chosen_prompt": chosen["turns"][0]["prompt"],
        "rejected_prompt": rejected["turns"][0]["prompt"],
        "node": pair.parent,
    }


def select_pairs(
    trees: Iterable[nx.DiGraph],
    *,
    balanced: bool = True,
    seed: int = 0,
    threshold: float = 0.5,
    kinds: Sequence[str] | None = None,
    ratios: tuple[float, float, float] = (0.7, 0.15, 0.15),
) -> tuple[list[PreferencePair], dict[str, Any]]:
    """The pairs to export from trees read one at a time (`meta["tree"]` is a pair's tree's
    position), split by question and (optionally) balanced; plus counts and `warnings`
    (e.g. an empty train split). Holds the pairs, never the trees."""
    questions: list[str] = []
    pairs: list[PreferencePair] = []
    dropped: Counter[str] = Counter()
    for index, tree in enumerate(trees):
        questions.append(str(tree.graph["question_id"]))
        for pair in preference_pairs(tree, threshold, kinds, dropped):
            pair.meta["tree"] = index
            pairs.append(pair)
    splits = assign_splits(questions, seed=seed, ratios=ratios)
    for pair in pairs:
        pair.split = splits[pair.question_id]
    counts: dict[str, Any] = {"before_balancing": count_pairs(pairs), "trees": len(questions)}
    if balanced:
        pairs = balance(pairs, seed=seed)
    counts["kept"] = count_pairs(pairs)
    counts["dropped"] = {key: dropped[key] for key in ("chosen_wrong", "chosen_ungraded")}
    counts["warnings"] = split_warnings(counts, balanced)
    return pairs, counts


def preference_rows(
    trees: Sequence[nx.DiGraph],
    *,
    balanced: bool = True,
    seed: int = 0,
    threshold: float = 0.5,
    kinds: Sequence[str] | None = None,
    ratios: tuple[float, float, float] = (0.7, 0.15, 0.15),
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows for every tree, split by question and (optionally) balanced; plus counts and
    `warnings` (e.g. an empty train split)."""
    pairs, counts = select_pairs(
        trees, balanced=balanced, seed=seed, threshold=threshold, kinds=kinds, ratios=ratios
    )
    counts.pop("trees")
    return [pair_row(trees[p.meta["tree"]], p) for p in pairs], counts


def view_pairs(record: dict[str, Any]) -> dict[str, Any] | None:
    """A stored tree's preference pairs with their codes, for the web viewer."""
    data = (record.get("state") or {}).get("tree")
    if not isinstance(data, dict) or not data.get("nodes"):
        return None
    try:
        tree = tree_from_json(data)
        pairs = preference_pairs(tree)
    except (KeyError, TypeError, ValueError, nx.NetworkXException):
        return None  # a tree this version cannot read is shown without pairs
    return {
        "pbt_pairs": [
            {
                "parent": p.parent,
                "chosen": p.chosen,
                "rejected": p.rejected,
                "chosen_score": p.chosen_score,
                "rejected_score": p.rejected_score,
                "code": p.code,
                "speaker": p.speaker,
            }
            for p in pairs
        ]
    }


def split_warnings(counts: dict[str, Any], balanced: bool) -> list[str]:
    """Say when the train split ends up empty, and why."""
    kept, before = counts["kept"]["train"], counts["before_balancing"]["train"]
    if sum(kept.values()):
        return []
    if balanced and sum(before.values()):
        return [
            f"the train split is empty after balancing (it had {before['resist']} resist and "
            f"{before['accept']} accept pairs): use --no-balanced, more questions, or other "
            "--split fractions"
        ]
    return ["the train split is empty: use more questions or other --split fractions"]
