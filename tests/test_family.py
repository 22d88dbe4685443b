"""The debate family (MAD, Society of Minds, SocraSynth, single-agent baseline) on the engine
with scripted agents: MAD's adaptive break and judge fallback, strict structured parsing,
the vote with ties and missing answers, the contentiousness schedule as rendered in the
debaters' prompts, CRIT ratings, answer grading and the family report."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from debate.cli import add_feature_commands, app
from debate.core.engine import Engine, ModelBindings, plan_units
from debate.core.loading import load_protocol
from debate.core.scenarios import Scenario
from debate.core.store import RunStore
from debate.errors import DebateInputError
from debate.family.report import (
    family_summary,
    grade,
    parse_candidates,
    parse_structured,
    plurality,
    read_answer,
    schema_model,
)
from debate.family.steps import Schedule
from debate.models.base import ChatMessage, GenerateConfig
from debate.models.scripted import ScriptedModel

QUESTION = Scenario(
    id="tqa-moon",
    question="What happens if a person sees the full moon?",
    answers=["Nothing in particular happens", "They turn into a werewolf"],
    correct_index=0,
    source="truthfulqa",
    fields={
        "correct_answers": ["Nothing in particular happens", "Nothing happens"],
        "incorrect_answers": ["They turn into a werewolf", "They become a wolf"],
    },
)
Reply = Callable[[Sequence[ChatMessage], GenerateConfig], str]
UNDECIDED = (
    '{"preference": false, "supported_side": "none", "reason": "Both unsure.", "answer": ""}'
)
DECIDED = '{"preference": true, "supported_side": "negative", "reason": "Facts.", "answer": "A"}'


class ScriptedEngine(Engine):
    replies: dict[str, Reply]
    calls: dict[str, list[list[ChatMessage]]]

    def bind_roles(self) -> Any:
        roles = super().bind_roles()
        for name, bound in roles.items():
            reply = self.replies.get(name, lambda m, c: "I am not sure.")

            def respond(
                messages: Sequence[ChatMessage],
                config: GenerateConfig,
                *,
                name: str = name,
                reply: Reply = reply,
            ) -> str:
                self.calls.setdefault(name, []).append(list(messages))
                return reply(messages, config)

            bound.model = ScriptedModel(f"scripted/{name}", respond)
        return roles


def run(
    protocol: str, replies: dict[str, Reply], store: RunStore | None = None
) -> tuple[dict[str, Any], ScriptedEngine]:
    bundle = load_protocol(protocol)
    engine = ScriptedEngine(bundle=bundle, bindings=ModelBindings({}, default="scripted"))
    engine.store = store
    engine.replies = replies
    engine.calls = {}
    records = asyncio.run(engine.run(plan_units(bundle, [QUESTION])))
    assert not engine.failures, engine.failures
    return records[0], engine


def rounds_seen(messages: Sequence[ChatMessage]) -> int:
    """How many negative turns a MAD judge has seen (the debate round)."""
    return sum(m.content.count("Negative:") for m in messages if m.role == "user")


MAD_DEBATERS: dict[str, Reply] = {
    "affirmative": lambda m, c: "The moon changes people.\nAnswer: B",
    "negative": lambda m, c: "That is a myth.\nAnswer: A",
}


# ---------------------------------------------------------------- MAD


def test_mad_adaptive_break_stops_when_the_moderator_names_an_answer() -> None:
    moderator = lambda m, c: DECIDED if rounds_seen(m) >= 2 else UNDECIDED  # noqa: E731
    record, engine = run("mad", {**MAD_DEBATERS, "moderator": moderator})
    assert record["stop_reason"] == "moderator_decided"
    assert record["rounds"] == 2
    fired = [entry["fired"] for entry in record["state"]["checks"]["moderator"]]
    assert fired == [False, True]
    final = record["state"]["final_answer"]
    assert (final["answer"], final["source"], final["status"], final["correct"]) == (
        "A",
        "moderator",
        "ok",
        True,
    )
    assert "judge" not in engine.calls  # the fallback never ran


def test_mad_preference_without_an_answer_does_not_break() -> None:
    no_answer = '{"preference": true, "supported_side": "negative", "reason": "x", "answer": ""}'
    record, engine = run("mad", {**MAD_DEBATERS, "moderator": lambda m, c: no_answer})
    assert record["stop_reason"] == "completed"
    assert record["rounds"] == 3
    assert len(engine.calls["judge"]) == 1 + 3  # the list, then a pick never read (2 retries)
    final = record["state"]["final_answer"]
    assert (final["source"], final["status"], final["correct"]) == ("judge", "invalid", False)


def test_mad_judge_fallback_lists_candidates_then_picks() -> None:
    def judge(messages: Sequence[ChatMessage], config: GenerateConfig) -> str:
        if "Candidate answers:" in messages[-1].content:
            return "The negative side is right.\nAnswer: A"
        return "- B: they turn into a werewolf\n- A: nothing in particular happens"

    record, engine = run(
        "mad", {**MAD_DEBATERS, "moderator": lambda m, c: UNDECIDED, "judge": judge}
    )
    assert record["rounds"] == 3 and record["stop_reason"] == "completed"
    assert [e["fired"] for e in record["state"]["checks"]["moderator"]] == [False] * 3
    listing, pick = engine.calls["judge"]
    assert "Negative: That is a myth." in listing[-1].content  # the judge saw the debate
    assert "- B: they turn into a werewolf" in pick[-1].content  # ...and its own candidates
    assert record["state"]["settle"]["candidates"] == [
        "B: they turn into a werewolf",
        "A: nothing in particular happens",
    ]
    final = record["state"]["final_answer"]
    assert (final["source"], final["answer"], final["correct"]) == ("judge", "A", True)


def test_mad_moderator_reply_is_retried_then_recorded_invalid() -> None:
    calls = {"n": 0}

    def flaky(messages: Sequence[ChatMessage], config: GenerateConfig) -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            return "I prefer the negative side."  # no structure: retried
        if calls["n"] == 2:
            return '{"preference": "maybe", "answer": "A"}'  # fails validation: retried
        return "Preference: yes\nSupported side: Negative\nReason: myth\nAnswer: A"

    record, _ = run("mad", {**MAD_DEBATERS, "moderator": flaky})
    entry = record["state"]["moderation"]["moderator"][0]
    assert entry["results"][0]["fields"]["supported_side"] == "negative"
    check = next(m for m in record["messages"] if m["kind"] == "check")
    assert check["meta"]["attempts"] == 3 and check["visible_to"] == []
    assert record["stop_reason"] == "moderator_decided" and record["rounds"] == 1

    record, engine = run("mad", {**MAD_DEBATERS, "moderator": lambda m, c: "no idea"})
    assert record["stop_reason"] == "completed"
    results = [e["results"][0] for e in record["state"]["moderation"]["moderator"]]
    assert all(r["valid"] is False and r["fields"] is None for r in results)
    assert record["state"]["checks"]["moderator"][0]["answers"] == [None]
    assert len(engine.calls["moderator"]) == 3 * 3  # 3 rounds x (1 + 2 retries)


def test_structured_parsing_is_strict() -> None:
    model = schema_model({"preference": "bool", "side": "one of: a, b", "score": "int 1..10"})
    fields, problem = parse_structured(
        'Sure! {"Preference": "Yes", "side": "B", "score": 7}', model
    )
    assert fields == {"preference": True, "side": "b", "score": 7} and problem == ""
    assert parse_structured('{"preference": true, "side": "c", "score": 7}', model)[0] is None
    fields, problem = parse_structured('{"preference": true, "side": "a", "score": 11}', model)
    assert fields is None and "score" in problem
    assert parse_structured("{'preference': True}", model)[0] is None
    with pytest.raises(ValueError, match="unknown field type"):
        schema_model({"x": "list"})


def test_unknown_schema_field_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\nroles:\n  m: {judge: mad-moderator}\nrounds:\n"
        "  - moderate: m\n    schema: {ok: bool}\n    fires_when: [nope]\n"
    )
    with pytest.raises(DebateInputError, match=r"rounds\[0\].*'nope' is not a field"):
        load_protocol(str(path))


# ---------------------------------------------------------------- Society of Minds


def som_replies(answers: dict[str, list[str | None]]) -> dict[str, Reply]:
    """Each agent gives its scripted answer per round (None: an empty reply)."""

    def agent(name: str) -> Reply:
        def reply(messages: Sequence[ChatMessage], config: GenerateConfig) -> str:
            turn = sum(1 for m in messages if m.role == "assistant")
            chosen = answers[name][min(turn, len(answers[name]) - 1)]
            return "" if chosen is None else f"My view.\nAnswer: {chosen}"

        return reply

    return {name: agent(name) for name in answers}


def test_som_majority_vote_and_agreement_over_rounds() -> None:
    record, engine = run(
        "society-of-minds",
        som_replies({"agent_1": ["A"], "agent_2": ["B", "A"], "agent_3": ["B", "B", "A"]}),
    )
    assert record["rounds"] == 3
    votes = record["state"]["votes"]
    assert [round(v["agreement"], 3) for v in votes[:3]] == [0.667, 0.667, 1.0]
    assert [v["unanimous"] for v in votes[:3]] == [False, False, True]
    final = record["state"]["final_answer"]
    assert (final["status"], final["key"], final["correct"], final["votes"]) == (
        "ok",
        "option:0",
        True,
        3,
    )
    # round 2: every agent sees the others' first answers, not their own as a user turn
    second = "\n".join(m.content for m in engine.calls["agent_2"][1] if m.role == "user")
    assert "Agent 1: My view.\nAnswer: A" in second
    assert "Agent 3: My view.\nAnswer: B" in second
    first = engine.calls["agent_3"][0]
    assert "Agent" not in first[-1].content.split("Question:")[0]  # independent first answers


def test_som_tie_is_reported_and_never_correct() -> None:
    record, _ = run(
        "society-of-minds",
        som_replies({"agent_1": ["A"], "agent_2": ["B"], "agent_3": [None]}),
    )
    final = record["state"]["final_answer"]
    assert (final["status"], final["correct"], final["answer"]) == ("tie", False, None)
    assert record["state"]["votes"][-1]["missing"] == 1


def test_som_missing_answers_are_reported_and_never_correct() -> None:
    record, _ = run(
        "society-of-minds",
        som_replies({"agent_1": [None], "agent_2": [None], "agent_3": [None]}),
    )
    final = record["state"]["final_answer"]
    assert (final["status"], final["correct"]) == ("missing", False)
    assert record["state"]["votes"][-1]["agreement"] == 0.0


def test_plurality_and_answer_reading() -> None:
    assert plurality(["a", "b", "a"]) == ("a", "ok")
    assert plurality(["a", "b", None]) == (None, "tie")
    assert plurality(["a", None, None]) == ("a", "ok")
    assert plurality([None, None]) == (None, "missing")
    assert read_answer("Because.\nAnswer: (B)") == "B"
    # a label before text stays whole; grading reads option A only if the text is A's
    assert read_answer("Answer: A: Nothing in particular happens") == (
        "A: Nothing in particular happens"
    )
    assert read_answer("") is None
    assert read_answer("It is the moon. Really.") == "It is the moon. Really"  # no answer line
    assert read_answer("It is the moon. Really.", require_line=True) is None
    assert read_answer("B") == "B"
    assert read_answer("The answer is: Answer: Answer:") is None
    assert read_answer("Answer: The answer is (A)") == "A"
    assert grade("B", QUESTION) == {"answer": "B", "key": "option:1", "correct": False}
    free = grade("nothing happens", QUESTION)
    assert free["correct"] is True
    assert grade("purple elephants dance", QUESTION)["correct"] is None


# ---------------------------------------------------------------- SocraSynth


def level(messages: Sequence[ChatMessage]) -> str:
    found = re.findall(r"Contentiousness level: ([0-9]+(?:\.[0-9]+)?)", messages[-1].content)
    return found[-1]


def test_socrasynth_contentiousness_schedule_in_rendered_prompts() -> None:
    crit = '{"score_a": 8, "reason_a": "sound", "score_b": 3, "reason_b": "myth"}'
    record, engine = run(
        "socrasynth",
        {
            "debater_a": lambda m, c: "Nothing happens.\nAnswer: A",
            "debater_b": lambda m, c: "Werewolves.\nAnswer: B",
            "evaluator": lambda m, c: crit,
        },
    )
    prompts = engine.calls["debater_a"]
    assert [level(p) for p in prompts] == ["0.9", "0.75", "0.625", "0.1"]
    assert "strongly adversarial" in prompts[0][-1].content
    assert "Be firm" in prompts[1][-1].content and "Be firm" in prompts[2][-1].content
    assert "closing remarks" in prompts[3][-1].content
    assert [e["value"] for e in record["state"]["schedule"]["contentiousness"]] == [
        0.9,
        0.75,
        0.625,
        0.1,
    ]
    assert "They turn into a werewolf" in engine.calls["debater_b"][0][0].content  # its stance
    final = record["state"]["final_answer"]
    assert (final["winner"], final["key"], final["correct"]) == ("debater_a", "option:0", True)
    assert final["scores"] == {"debater_a": 8.0, "debater_b": 3.0}


def test_socrasynth_equal_ratings_are_a_tie() -> None:
    crit = '{"score_a": 5, "reason_a": "ok", "score_b": 5, "reason_b": "ok"}'
    record, _ = run("socrasynth", {"evaluator": lambda m, c: crit})
    final = record["state"]["final_answer"]
    assert (final["status"], final["correct"]) == ("tie", False)


def test_schedule_values() -> None:
    divide = Schedule(schedule="c", start=0.9, divide=1.2)
    assert [divide.value(i) for i in range(3)] == [0.9, 0.75, 0.625]
    listed = Schedule(schedule="c", values=[0.5, 0.2])
    assert [listed.value(i) for i in range(4)] == [0.5, 0.2, 0.2, 0.2]
    clamped = Schedule(schedule="c", start=0.2, add=0.5, max=1.0)
    assert [clamped.value(i) for i in range(3)] == [0.2, 0.7, 1.0]
    with pytest.raises(ValueError, match="exactly one"):
        Schedule(schedule="c")


def test_parse_candidates() -> None:
    assert parse_candidates("1. Paris\n2) Lyon\n- paris") == ["Paris", "Lyon"]
    assert parse_candidates("Paris; Lyon") == ["Paris", "Lyon"]


# ---------------------------------------------------------------- report


def test_family_report_against_single_agent_baseline(tmp_path: Path) -> None:
    protocol_dir, baseline_dir = tmp_path / "som", tmp_path / "single"
    run(
        "society-of-minds",
        som_replies({"agent_1": ["A"], "agent_2": ["A"], "agent_3": ["B"]}),
        store=RunStore(protocol_dir),
    )
    run("single-agent", {"answerer": lambda m, c: "Werewolves.\nAnswer: B"}, RunStore(baseline_dir))
    add_feature_commands()
    result = CliRunner().invoke(
        app, ["family-report", str(protocol_dir), "--baseline", str(baseline_dir), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((protocol_dir / "family-report.json").read_text())
    assert summary["accuracy"]["value"] == 1.0
    assert summary["baseline"]["accuracy"]["value"] == 0.0
    assert summary["baseline"]["difference"]["value"] == 1.0
    assert summary["status"] == {"ok": 1, "tie": 0, "missing": 0, "invalid": 0}
    assert [row["agreement"]["value"] for row in summary["agreement_by_vote"]][0] == pytest.approx(
        2 / 3
    )
    bad = CliRunner().invoke(app, ["family-report", str(tmp_path / "nothing")])
    assert bad.exit_code == 2 and "not a run directory" in bad.output


def test_family_summary_counts_early_stops() -> None:
    records = [
        {
            "protocol": "mad",
            "scenario_id": f"q{i}",
            "rounds": rounds,
            "stop_reason": stop,
            "state": {"final_answer": {"status": "ok", "correct": ok, "source": "moderator"}},
        }
        for i, (rounds, stop, ok) in enumerate(
            [
                (1, "moderator_decided", True),
                (3, "completed", False),
                (2, "moderator_decided", True),
            ]
        )
    ]
    summary = family_summary(records)
    assert summary["early_stop"]["value"] == pytest.approx(2 / 3)
    assert summary["rounds"]["value"] == 2.0
    assert summary["rounds_histogram"] == {1: 1, 2: 1, 3: 1}
    assert summary["accuracy"]["value"] == pytest.approx(2 / 3)
