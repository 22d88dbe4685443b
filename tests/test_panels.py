"""Judge panels: mean and majority aggregation, ties, members kept, declaration errors."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

from debate.core.engine import Engine, ModelBindings, plan_units
from debate.core.loading import load_protocol
from debate.core.panels import aggregate, panel_verdict
from debate.core.record import Verdict
from debate.core.scenarios import Scenario
from debate.models import Model
from debate.models.base import ChatMessage, GenerateConfig
from debate.models.scripted import ScriptedModel


def verdict(probs: list[float] | None) -> Verdict:
    return Verdict(
        role="judge",
        round=1,
        probs=probs,
        chosen=None if probs is None else probs.index(max(probs)),
        valid=probs is not None,
        method="parse" if probs is not None else "none",
        raw="",
    )


SEATS = [("m1", "qa-judge", "scripted/1"), ("m2", "qa-judge", "scripted/2"),
         ("m3", "qa-judge", "scripted/3")]  # fmt: skip


def panel(members: list[Verdict], how: str) -> Verdict:
    return panel_verdict(
        members, SEATS[: len(members)], how=how, role="judge", round=3, final=True, at_message=6
    )


def test_mean_leaves_out_invalid_members() -> None:
    made = panel([verdict([0.9, 0.1]), verdict(None), verdict([0.3, 0.7])], "mean")
    assert made.probs == pytest.approx([0.6, 0.4]) and made.chosen == 0 and made.valid
    assert made.method == "panel" and made.panel is not None
    assert made.panel["n_valid"] == 2 and made.panel["tie"] is False
    members = made.panel["members"]
    assert [m["label"] for m in members] == ["m1", "m2", "m3"]
    assert members[1]["valid"] is False and members[2]["probs"] == [0.3, 0.7]
    assert members[0]["model"] == "scripted/1" and members[0]["judge"] == "qa-judge"


def test_majority_counts_votes_and_reports_ties() -> None:
    won = panel([verdict([0.9, 0.1]), verdict([0.2, 0.8]), verdict([0.6, 0.4])], "majority")
    assert won.probs == pytest.approx([2 / 3, 1 / 3]) and won.chosen == 0
    tied = panel([verdict([0.9, 0.1]), verdict([0.2, 0.8])], "majority")
    assert tied.probs == [0.5, 0.5] and tied.chosen is None and tied.valid
    assert tied.panel is not None and tied.panel["tie"] is True
    # a member whose own probabilities tie casts no vote
    assert aggregate([verdict([0.5, 0.5]), verdict([0.2, 0.8])], "majority") == [0.0, 1.0]
    assert aggregate([verdict([0.5, 0.5])], "majority") is None
    nothing = panel([verdict(None), verdict(None)], "mean")
    assert nothing.valid is False and nothing.probs is None and nothing.chosen is None


class Seats(ModelBindings):
    """Bindings that hand out the test's models by model string."""

    def __init__(self, models: dict[str, Model]) -> None:
        super().__init__({}, default="role-model")
        self.named = models

    def model_named(self, name: str, role: str, declared: str) -> Model:
        return self.named[name]


def answering(name: str, reply: str, log: list[str]) -> ScriptedModel:
    def respond(messages: Sequence[ChatMessage], config: GenerateConfig) -> str:
        if config.choices:
            log.append(name)
            return reply
        return "An argument."

    return ScriptedModel(name=name, responder=respond)


@pytest.mark.parametrize(
    ("how", "probs", "correct"), [("mean", [0.6, 0.4], True), ("majority", [2 / 3, 1 / 3], True)]
)
def test_panel_declaration_runs_each_member(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str, probs: list[float], correct: bool
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "judges").mkdir()
    (tmp_path / "judges" / "three.yaml").write_text(
        "name: three\n"
        "panel:\n"
        f"  aggregate: {how}\n"
        "  members:\n"
        "    - {judge: qa-judge, model: first, label: one}\n"
        "    - {judge: qa-judge, model: second}\n"
        "    - {judge: qa-judge}\n"
    )
    (tmp_path / "panel-debate.yaml").write_text(
        "name: panel-debate\n"
        "roles:\n"
        "  debater_a: {agent: debater, defends: 0}\n"
        "  debater_b: {agent: debater, defends: 1}\n"
        "  judge: {judge: three}\n"
        "hidden_from: {story: [judge]}\n"
        "rounds:\n"
        "  - speak: [debater_a, debater_b]\n"
        "verdict: judge\n"
    )
    bundle = load_protocol(str(tmp_path / "panel-debate.yaml"))
    assert set(bundle.judges) == {"three", "qa-judge"}
    asked: list[str] = []
    models: dict[str, Any] = {
        "first": answering("first", "Answer: A. Confidence: 90%", asked),
        "second": answering("second", "Answer: B. Confidence: 80%", asked),
        "role-model": answering("role-model", "Answer: A. Confidence: 70%", asked),
    }
    engine = Engine(bundle, Seats(models))
    item = Scenario(id="q", question="Which?", answers=["yes", "no"], correct_index=0)
    asyncio.run(engine.run(plan_units(bundle, [item], swap=False)))
    assert not engine.failures
    record = engine.records[0]
    final = record["final_verdict"]
    assert sorted(asked) == ["first", "role-model", "second"]
    assert final["method"] == "panel" and final["probs"] == pytest.approx(probs)
    assert record["correct"] is correct
    members = final["panel"]["members"]
    assert [(m["label"], m["model"]) for m in members] == [
        ("one", "first"),
        ("second", "second"),
        ("qa-judge", "role-model"),
    ]
    assert [m["probs"][0] for m in members] == pytest.approx([0.9, 0.2, 0.7])
    assert record["usage"]["judge"]["calls"] == 3


def test_panel_declaration_errors(tmp_path: Path) -> None:
    judges = tmp_path / "judges"
    judges.mkdir()
    (judges / "bare.yaml").write_text(
        "name: bare\npanel:\n  members:\n    - {model: scripted/a}\n    - {model: scripted/b}\n"
    )
    (judges / "one.yaml").write_text("name: one\npanel:\n  members:\n    - {judge: qa-judge}\n")
    (judges / "nested.yaml").write_text(
        "name: nested\npanel:\n  members:\n    - {judge: qa-judge}\n    - {judge: pair}\n"
    )
    (judges / "pair.yaml").write_text(
        "name: pair\npanel:\n  members:\n    - {judge: qa-judge}\n    - {judge: qa-judge}\n"
    )
    (tmp_path / "uses-nested.yaml").write_text(
        "name: uses-nested\nroles:\n  judge: {judge: nested}\nverdict: judge\n"
    )
    bare = run_cli("validate", str(judges / "bare.yaml"))
    assert bare.returncode == 2 and "names no judge" in bare.stderr
    one = run_cli("validate", str(judges / "one.yaml"))
    assert one.returncode == 2 and "panel.members" in one.stderr
    fine = run_cli("validate", str(judges / "pair.yaml"))
    assert fine.returncode == 0, fine.stderr
    nested = run_cli("validate", "uses-nested.yaml", cwd=tmp_path)
    assert nested.returncode == 2 and "panels do not nest" in nested.stderr
    assert "Traceback" not in bare.stderr + one.stderr + nested.stderr


def test_a_tied_panel_is_counted_in_the_summary_and_never_correct() -> None:
    from debate.analysis.report import summarize, summary_rows

    tied = panel([verdict([0.9, 0.1]), verdict([0.2, 0.8])], "majority").to_record()
    won = panel([verdict([0.9, 0.1]), verdict([0.8, 0.2])], "majority").to_record()
    records = [
        {"id": f"u{i}", "protocol": "p", "scenario_id": f"q{i}", "correct_index": 0,
         "final_verdict": final, "correct": final["chosen"] == 0}
        for i, final in enumerate([tied, won])
    ]  # fmt: skip
    summary = summarize(records)
    assert summary["n_tied"] == 1 and summary["n_valid"] == 2
    assert summary["judge_accuracy"] == 0.5
    assert ("tied verdicts (not correct)", "1", "2") in summary_rows(summary)[1]
