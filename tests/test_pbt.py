"""PBT on the engine with scripted agents: the `branch` step builds the hand-computed
trees (pruning, scores, pairs, codes, balancing), the export (JSONL and `datasets`),
`show-tree`, and the flipflop / pbt-balanced / team-debate reports."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

from debate.core.engine import Engine, ModelBindings, plan_units
from debate.core.loading import load_protocol
from debate.core.scenarios import Scenario
from debate.core.store import RunStore
from debate.models.base import ChatMessage, GenerateConfig
from debate.models.scripted import ScriptedModel
from debate.pbt.evaluation import evaluate, load_trees
from debate.pbt.trees import compute_scores, preference_pairs, preference_rows

Responder = Callable[[Sequence[ChatMessage], GenerateConfig], str]


def capital(qid: str) -> Scenario:
    return Scenario(
        id=qid,
        question=f"{qid}: What is the capital of France?",
        answers=["Paris", "Rome"],
        correct_index=0,
        fields={"correct_answers": ["Paris"], "incorrect_answers": ["Rome", "Lyon"]},
    )


def run_protocol(
    name: str, responder: Responder, scenarios: list[Scenario], out: Path, **plan: Any
) -> list[dict[str, Any]]:
    bundle = load_protocol(name)
    for key, value in plan.pop("step", {}).items():
        setattr(bundle.steps[0], key, value)
    model = ScriptedModel("scripted/pbt", responder)

    class Scripted(Engine):
        def bind_roles(self) -> Any:
            roles = super().bind_roles()
            for bound in roles.values():
                bound.model = model
            return roles

    engine = Scripted(bundle, ModelBindings({}, default="scripted"), store=RunStore(out))
    asyncio.run(engine.run(plan_units(bundle, scenarios, **plan)))
    assert not engine.failures, engine.failures
    return engine.records


OPENINGS = {
    "q1": {"Agent A": "Paris", "Agent B": "Rome"},
    "q2": {"Agent A": "Rome", "Agent B": "Paris"},
}


def tree_script(messages: Sequence[ChatMessage], config: GenerateConfig) -> str:
    """Openings per question; resist/emotional/credibility keep their answer; accept and
    logical give in ("Answer: Agree")."""
    system = messages[0].content
    speaker = re.search(r"You are (Agent [AB])", system)
    assert speaker is not None
    if "working out the answer" in system:  # the neutral opening
        qid = re.search(r"(q\d):", messages[1].content)
        assert qid is not None
        return f"I think so.\nAnswer: {OPENINGS[qid.group(1)][speaker.group(1)]}"
    own = re.search(r'(?:You answered|Your answer is) "([^"]+)"', system)
    assert own is not None
    if "persuades you" in system or "with logic" in system:
        return "You make a fair point.\nAnswer: Agree"
    return f"I hold my view.\nAnswer: {own.group(1)}"


def test_branch_builds_the_hand_computed_trees(tmp_path: Path) -> None:
    records = run_protocol("pbt-tree", tree_script, [capital("q1"), capital("q2")], tmp_path / "r")
    trees = {r["scenario_id"]: t for r, t in load_trees(tmp_path / "r")}
    q1, q2 = trees["q1"], trees["q2"]
    # q1: A right (Paris), B wrong. accept (0.1) and logical (0.0.0) end in agreement.
    assert sorted(q1) == sorted(
        ["0", "0.0", "0.1", "0.0.0", "0.0.1", "0.0.2"]
        + ["0.0.1.0", "0.0.1.1", "0.0.2.0", "0.0.2.1"]
    )
    assert {n for n in q1 if q1.nodes[n]["pruned"]} == {"0.1", "0.0.0", "0.0.1.1", "0.0.2.1"}
    assert compute_scores(q1) == {
        "0": 5, "0.0": 4, "0.1": 0, "0.0.0": 1, "0.0.1": 1, "0.0.2": 1,
        "0.0.1.0": 1, "0.0.1.1": 0, "0.0.2.0": 1, "0.0.2.1": 0,
    }  # fmt: skip
    assert compute_scores(q2) == {
        "0": 6, "0.0": 4, "0.1": 1, "0.0.0": 0, "0.0.1": 2, "0.0.2": 2,
        "0.0.1.0": 0, "0.0.1.1": 1, "0.0.2.0": 0, "0.0.2.1": 1,
    }  # fmt: skip
    got = {
        qid: [
            (p.parent, p.chosen, p.rejected, p.code)
            for p in preference_pairs(tree, chosen_must_hold_correct=False)
        ]
        for qid, tree in trees.items()
    }
    assert got["q1"] == [
        ("0", "0.0", "0.1", "resist"),
        ("0.0.1", "0.0.1.0", "0.0.1.1", "resist"),
        ("0.0.2", "0.0.2.0", "0.0.2.1", "resist"),
    ]
    assert got["q2"] == [
        ("0", "0.0", "0.1", "accept"),  # A was wrong; the resist branch scores higher (4 vs 1)
        ("0.0", "0.0.1", "0.0.0", "resist"),  # B was right
        ("0.0", "0.0.2", "0.0.0", "resist"),
        ("0.0.1", "0.0.1.1", "0.0.1.0", "accept"),
        ("0.0.2", "0.0.2.1", "0.0.2.0", "accept"),
    ]
    # By default a pair whose chosen turn holds a wrong answer is left out: q2's first
    # pair would teach Agent A to keep Rome
    kept = [(p.parent, p.chosen, p.rejected, p.code) for p in preference_pairs(q2)]
    assert kept == got["q2"][1:]
    # Balanced: q1's split has 3 resist / 0 accept (keeps none), q2's 2 / 2 (keeps 2 + 2).
    rows, counts = preference_rows(list(trees.values()))
    assert counts["dropped"] == {"chosen_wrong": 1, "chosen_ungraded": 0}
    assert sorted(r["code"] for r in rows) == ["accept", "accept", "resist", "resist"]
    assert {r["question_id"] for r in rows} == {"q2"}
    assert all(r["split"] == counts_split(counts) for r in rows)
    assert records[0]["state"]["pbt"]["nodes"] == 10


def counts_split(counts: dict[str, Any]) -> str:
    return next(s for s, row in counts["kept"].items() if sum(row.values()))


def test_without_pruning_the_tree_is_full(tmp_path: Path) -> None:
    run_protocol("pbt-tree", tree_script, [capital("q1")], tmp_path / "r", step={"prune": False})
    ((_, tree),) = load_trees(tmp_path / "r")
    assert tree.number_of_nodes() == 1 + 2 + 6 + 12
    assert [sum(1 for n in tree if tree.nodes[n]["level"] == k) for k in range(4)] == [1, 2, 6, 12]
    assert not any(tree.nodes[n]["pruned"] for n in tree)


def test_opening_agreement_is_resampled_then_pruned(tmp_path: Path) -> None:
    calls: list[float] = []

    def agreeing(messages: Sequence[ChatMessage], config: GenerateConfig) -> str:
        calls.append(config.temperature)
        return "Answer: Paris"

    records = run_protocol("pbt-tree", agreeing, [capital("q1")], tmp_path / "r")
    state = records[0]["state"]["pbt"]
    assert state == {
        "nodes": 1, "pruned": 1, "root_agree": True, "root_score": 2, "opening_attempts": 4,
    }  # fmt: skip
    assert calls == [0.7, 0.7, 1.0, 1.0, 1.0]  # 2 openings, then 3 resamples of Agent B


def test_branch_prompts_see_the_path_and_the_speakers_model_answers(tmp_path: Path) -> None:
    seen: list[list[ChatMessage]] = []

    def spy(messages: Sequence[ChatMessage], config: GenerateConfig) -> str:
        seen.append(list(messages))
        return tree_script(messages, config)

    run_protocol("pbt-tree", spy, [capital("q1")], tmp_path / "r", step={"depth": 2})
    persuader = next(m for m in seen if "with logic" in m[0].content)
    assert 'Your answer is "Rome"' in persuader[0].content
    # B's own opening comes first (it answered without seeing A's), then A's turns
    assert [m.role for m in persuader] == ["system", "user", "assistant", "user"]
    assert persuader[2].content == "I think so.\nAnswer: Rome"
    assert persuader[3].content.startswith("Agent A: I think so.\nAnswer: Paris\n\n")
    assert "Agent A: I hold my view.\nAnswer: Paris" in persuader[3].content


def test_export_cli_jsonl_and_hf_and_show_tree(tmp_path: Path) -> None:
    run_protocol("pbt-tree", tree_script, [capital("q1"), capital("q2")], tmp_path / "r")
    out = tmp_path / "prefs.jsonl"
    done = run_cli("export", "prefs", str(tmp_path / "r"), "--out", str(out), "--no-balanced")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 7 and "7 rows from 2 trees" in done.stdout
    assert "left out: 1 pairs whose chosen turn holds a wrong answer" in done.stdout
    first = rows[0]
    assert first["prompt"][0]["role"] == "system" and first["prompt"][-1]["role"] == "user"
    assert first["chosen"][0]["role"] == "assistant" and first["rejected"][0]["role"] == "assistant"
    assert set(first) >= {"code", "chosen_score", "rejected_score", "question_id", "split"}
    assert "Stay with your own answer" not in json.dumps(first["prompt"])  # neutral prompt

    hf = tmp_path / "prefs_hf"
    done = run_cli("export", "prefs", str(tmp_path / "r"), "--out", str(hf), "--format", "hf")
    assert done.returncode == 0, done.stderr
    from datasets import load_from_disk

    data = load_from_disk(str(hf))
    assert set(data) <= {"train", "validation", "test"}  # the non-empty splits
    assert sum(len(split) for split in data.values()) == 4

    png = tmp_path / "tree.png"
    shown = run_cli("show-tree", str(tmp_path / "r"), "--unit", "q2", "--png", str(png))
    assert shown.returncode == 0, shown.stderr
    assert "logical" in shown.stdout and "score 6" in shown.stdout
    assert png.stat().st_size > 1000
    bad = run_cli("show-tree", str(tmp_path / "r"), "--unit", "nope")
    assert bad.returncode == 2 and "'nope' is not a unit" in bad.stderr


def test_flipflop_report(tmp_path: Path) -> None:
    def flips_on_q1(messages: Sequence[ChatMessage], config: GenerateConfig) -> str:
        q1 = "q1:" in messages[1].content
        if "Are you sure?" not in messages[-1].content:
            return "Answer: Paris" if q1 else "Answer: Lyon"
        return "Sorry.\nAnswer: Rome" if q1 else "Answer: Paris"

    scenarios = [capital("q1"), capital("q2"), capital("q3")]
    records = run_protocol("flipflop", flips_on_q1, scenarios, tmp_path / "r")
    report = evaluate(records)
    # before: q1 Paris ✓, q2 Lyon ✗, q3 Lyon ✗; after: Rome ✗, Paris ✓, Paris ✓
    assert report["accuracy_before"]["value"] == pytest.approx(1 / 3)
    assert report["accuracy_after"]["value"] == pytest.approx(2 / 3)
    assert report["flip_correct_to_wrong"]["value"] == 1.0
    assert report["flip_correct_to_wrong"]["n"] == 1
    assert report["flip_wrong_to_correct"]["value"] == 1.0
    assert report["flip_wrong_to_correct"]["n"] == 2


def test_pbt_balanced_report(tmp_path: Path) -> None:
    def stubborn(messages: Sequence[ChatMessage], config: GenerateConfig) -> str:
        if "certain the answer is" in messages[0].content:  # the persuader
            return "Trust me."
        return "I keep my answer.\nAnswer: Disagree"

    records = run_protocol("pbt-balanced", stubborn, [capital("q1"), capital("q2")], tmp_path / "r")
    assert records[0]["messages"][0]["text"].endswith("Answer: Paris")  # resist: held correct
    report = evaluate(records)
    assert report["resist_accuracy"]["value"] == 1.0 and report["resist_accuracy"]["n"] == 2
    assert report["accept_accuracy"]["value"] == 0.0 and report["accept_accuracy"]["n"] == 2
    assert report["overall_accuracy"]["value"] == 0.5


def test_team_debate_report_per_order(tmp_path: Path) -> None:
    def b_follows_when_second(messages: Sequence[ChatMessage], config: GenerateConfig) -> str:
        if "You are Agent A" in messages[0].content:
            return "Answer: Rome"
        if "Agent A:" in messages[1].content:  # B speaks second: it goes along with A
            return "Answer: Agree"
        spoke = any(m.role == "assistant" for m in messages)
        return "Answer: Disagree" if spoke else "Answer: Paris"

    records = run_protocol("team-debate", b_follows_when_second, [capital("q1")], tmp_path / "r")
    orders = {r["variant"]["order"]: r for r in records}
    assert [m["speaker"] for m in orders["ab"]["messages"]] == ["Agent A", "Agent B"] * 2
    assert [m["speaker"] for m in orders["ba"]["messages"]] == ["Agent B", "Agent A"] * 2
    report = evaluate(records)
    # ab: A Rome, B Agree (Rome), A Rome, B Agree -> both wrong: 0.0
    # ba: B Paris, A Rome, B Disagree (Paris), A Rome -> B right: 0.5
    assert report["team_accuracy"]["ab"]["value"] == 0.0
    assert report["team_accuracy"]["ba"]["value"] == 0.5
    assert report["order_dependence"]["value"] == -0.5
