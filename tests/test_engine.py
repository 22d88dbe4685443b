"""The engine with scripted models: visibility, simultaneity, verdicts, seeds, failures."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pytest

from debate.analysis.report import summarize
from debate.core.engine import Engine, ModelBindings, plan_units
from debate.core.loading import load_protocol
from debate.core.scenarios import Scenario, load_scenarios
from debate.models.base import ChatMessage, GenerateConfig
from debate.models.scripted import ScriptedModel

STORY = (
    "The lighthouse keeper counted forty-two ships that winter. "
    "None of them carried the letter Mara was waiting for, and by spring she stopped counting."
)


def scenarios(n: int = 4) -> list[Scenario]:
    return [
        Scenario(
            id=f"s{i}",
            question=f"How many ships did the keeper count in story {i}?",
            answers=["forty-two", "seven"],
            correct_index=0,
            story=STORY,
        )
        for i in range(n)
    ]


class Recorder:
    """A scripted model that remembers every chat it was given, per model name."""

    def __init__(self) -> None:
        self.chats: dict[str, list[list[ChatMessage]]] = defaultdict(list)

    def model(self, name: str, reply: Any = None) -> ScriptedModel:
        def responder(messages: Sequence[ChatMessage], config: GenerateConfig) -> str:
            self.chats[name].append(list(messages))
            if reply is not None:
                return reply(messages, config) if callable(reply) else reply
            if config.choices:
                return "Answer: A"
            turn = len(self.chats[name])
            return f"{name} says <quote>forty-two ships</quote> and more, turn {turn}."

        return ScriptedModel(name=name, responder=responder)


def run(protocol: str, bindings: ModelBindings, items: list[Scenario], **kwargs: Any) -> Engine:
    bundle = load_protocol(protocol)
    engine = Engine(bundle, bindings)
    asyncio.run(engine.run(plan_units(bundle, items, **kwargs)))
    return engine


def bind(**models: ScriptedModel) -> ModelBindings:
    bindings = ModelBindings({}, default="scripted")
    for role, model in models.items():
        bindings._models[(role, None)] = model
        bindings.bindings[role] = role
    return bindings


def test_judge_never_sees_the_story_but_debaters_do() -> None:
    recorder = Recorder()
    bindings = bind(
        debater_a=recorder.model("a"), debater_b=recorder.model("b"), judge=recorder.model("j")
    )
    engine = run("debate", bindings, scenarios(2))
    assert len(engine.records) == 4 and not engine.failures
    judge_text = "\n".join(m.content for chat in recorder.chats["j"] for m in chat)
    debater_text = "\n".join(m.content for chat in recorder.chats["a"] for m in chat)
    assert "lighthouse keeper" not in judge_text
    assert "lighthouse keeper" in debater_text
    # the judge does see the debaters' speeches, with their quotes checked and marked
    assert "<v_quote>forty-two ships</v_quote>" in judge_text
    assert "<quote>" not in judge_text


def test_together_round_hides_the_other_opening() -> None:
    recorder = Recorder()
    bindings = bind(
        debater_a=recorder.model("a"), debater_b=recorder.model("b"), judge=recorder.model("j")
    )
    run("debate", bindings, scenarios(1), swap=False)
    first_b = "\n".join(m.content for m in recorder.chats["b"][0])
    second_b = "\n".join(m.content for m in recorder.chats["b"][1])
    assert "a says" not in first_b  # simultaneous opening: B cannot see A's opening
    assert "a says" in second_b  # afterwards it can
    assert recorder.chats["a"][1][-2].role == "assistant"  # own speech shown as assistant turn


def test_round_structure_and_record_contents() -> None:
    recorder = Recorder()
    bindings = bind(
        debater_a=recorder.model("a"), debater_b=recorder.model("b"), judge=recorder.model("j")
    )
    engine = run("debate", bindings, scenarios(1), swap=True)
    by_swap = {r["swap"]: r for r in engine.records}
    record = by_swap[False]
    assert [m["round"] for m in record["messages"]] == [1, 1, 2, 2, 3, 3]
    assert [m["role"] for m in record["messages"]] == ["debater_a", "debater_b"] * 3
    assert record["messages"][0]["quotes"][0]["verified"] is True
    assert record["final_verdict"]["probs"] == [1.0, 0.0] and record["correct"] is True
    # swapped order: the correct answer is now B, debater_a defends the other answer
    swapped = by_swap[True]
    assert swapped["answers"] == ["seven", "forty-two"] and swapped["correct_index"] == 1
    assert swapped["correct"] is False  # the judge always says A
    assert record["usage"]["judge"]["prompt_tokens"] >= 0 and record["models"]["judge"] == "j"


def test_invalid_verdicts_are_kept_and_never_correct() -> None:
    recorder = Recorder()
    judge = recorder.model("j", reply="I really cannot say.")
    bindings = bind(debater_a=recorder.model("a"), debater_b=recorder.model("b"), judge=judge)
    engine = run("debate", bindings, scenarios(3))
    assert all(r["final_verdict"]["valid"] is False for r in engine.records)
    assert all(r["correct"] is False for r in engine.records)
    assert engine.records[0]["final_verdict"]["attempts"] == 3  # first try + 2 retries
    assert "I really cannot say." in engine.records[0]["final_verdict"]["raw"]
    summary = summarize(engine.records)
    assert summary["n_invalid"] == 6 and summary["n_valid"] == 0
    assert summary["judge_accuracy"] == 0.0


def test_parse_fallback_reads_answer_and_confidence() -> None:
    recorder = Recorder()
    judge = recorder.model("j", reply="Having weighed it all... Answer: B. Confidence: 80%")
    bindings = bind(debater_a=recorder.model("a"), debater_b=recorder.model("b"), judge=judge)
    engine = run("debate", bindings, scenarios(1), swap=False)
    verdict = engine.records[0]["final_verdict"]
    assert verdict["method"] == "parse" and verdict["probs"] == pytest.approx([0.2, 0.8])
    assert engine.records[0]["correct"] is False


def test_retry_recovers_a_malformed_verdict() -> None:
    replies = iter(["hmm, tough one", "Answer: A"])
    recorder = Recorder()
    judge = recorder.model("j", reply=lambda _m, _c: next(replies))
    bindings = bind(judge=judge)
    engine = run("direct-qa", bindings, scenarios(1), swap=False)
    verdict = engine.records[0]["final_verdict"]
    assert verdict["valid"] and verdict["attempts"] == 2 and engine.records[0]["correct"] is True
    retry_chat = recorder.chats["j"][1]
    assert retry_chat[-2].content == "hmm, tough one" and "Answer:" in retry_chat[-1].content


def test_same_seed_same_transcripts_other_seed_differs() -> None:
    def records(seed: int) -> list[dict[str, Any]]:
        bundle = load_protocol("debate")
        engine = Engine(bundle, ModelBindings({}, default="scripted"), concurrency=3)
        asyncio.run(engine.run(plan_units(bundle, scenarios(5), seed=seed)))
        out = sorted(engine.records, key=lambda r: r["id"])
        for record in out:
            record.pop("timing")
        return out

    assert records(7) == records(7)
    assert records(7) != records(8)


def test_a_failing_unit_is_recorded_not_dropped() -> None:
    def explode(messages: Sequence[ChatMessage], config: GenerateConfig) -> str:
        if "story 1" in messages[0].content:
            raise ConnectionError("server went away")
        return "Answer: A" if config.choices else "fine"

    bindings = bind(
        debater_a=ScriptedModel("a", explode),
        debater_b=ScriptedModel("b", explode),
        judge=ScriptedModel("j", explode),
    )
    engine = run("debate", bindings, scenarios(3))
    assert len(engine.records) == 4
    assert {f["id"] for f in engine.failures} == {"debate/s1/orig", "debate/s1/swap"}
    assert "ConnectionError: server went away" in engine.failures[0]["error"]


def test_consultancy_assigns_correct_and_incorrect_half_each() -> None:
    bundle = load_protocol("consultancy")
    items = scenarios(10)
    plans = plan_units(bundle, items, seed=3, swap=False)
    defended_correct = [p.defends["consultant"] == p.scenario.correct_index for p in plans]
    assert sum(defended_correct) == 5
    again = plan_units(bundle, items, seed=3, swap=False)
    assert [p.defends for p in plans] == [p.defends for p in again]


def test_consultancy_judge_asks_between_rounds() -> None:
    recorder = Recorder()
    judge = recorder.model("j", reply=lambda _m, c: "Answer: A" if c.choices else "Why seven?")
    bindings = bind(consultant=recorder.model("c"), judge=judge)
    engine = run("consultancy", bindings, scenarios(1), swap=False)
    kinds = [(m["role"], m["kind"]) for m in engine.records[0]["messages"]]
    assert kinds == [
        ("consultant", "speech"),
        ("judge", "question"),
        ("consultant", "speech"),
        ("judge", "question"),
        ("consultant", "speech"),
    ]
    consultant_chat = "\n".join(m.content for m in recorder.chats["c"][1])
    assert "Why seven?" in consultant_chat


def test_open_debate_debaters_choose_their_side() -> None:
    recorder = Recorder()
    bindings = bind(
        debater_a=recorder.model("a", reply=lambda _m, c: "B" if c.choices else "I defend B"),
        debater_b=recorder.model(
            "b", reply=lambda _m, c: "Answer: A" if c.choices else "I defend A"
        ),
        judge=recorder.model("j"),
    )
    engine = run("open-debate", bindings, scenarios(1), swap=False)
    assert engine.records[0]["defends"] == {"debater_a": 1, "debater_b": 0, "judge": None}
    assert "seven" in recorder.chats["a"][-1][0].content  # its system prompt names its choice


@pytest.mark.parametrize(
    "protocol",
    ["debate", "consultancy", "direct-qa", "oracle-qa", "open-debate", "open-consultancy"],
)
@pytest.mark.parametrize("source", ["truthfulqa", "nyu"])
def test_every_protocol_runs_on_shared_data(protocol: str, source: str) -> None:
    from conftest import shared

    path = (
        shared("truthfulqa", "TruthfulQA.csv") if source == "truthfulqa" else shared("nyu_debate")
    )
    items = load_scenarios(str(path), limit=3)
    engine = run(protocol, ModelBindings({}, default="scripted"), items)
    assert len(engine.records) == 6 and not engine.failures
    assert all(r["final_verdict"]["valid"] for r in engine.records)
    summary = summarize(engine.records)
    assert summary["n_units"] == 6 and summary["judge_accuracy_ci95"] is not None


def test_oracle_judge_sees_the_story_direct_judge_does_not() -> None:
    for protocol, expected in (("oracle-qa", True), ("direct-qa", False)):
        recorder = Recorder()
        run(protocol, bind(judge=recorder.model("j")), scenarios(1), swap=False)
        seen = "\n".join(m.content for m in recorder.chats["j"][0])
        assert ("lighthouse keeper" in seen) is expected


@pytest.mark.parametrize("stream_text", [False, True])
def test_models_stream_only_when_text_deltas_are_wanted(stream_text: bool) -> None:
    """A progress bar or an event log listens to turns; only the live view wants deltas,
    and asking a model for deltas makes an OpenAI-compatible call stream."""
    asked: list[bool] = []

    class Watching(ScriptedModel):
        async def generate(self, messages: Any, config: Any, on_delta: Any = None) -> Any:
            asked.append(on_delta is not None)
            return await super().generate(messages, config, on_delta)

    bundle = load_protocol("debate")
    events: list[Any] = []
    engine = Engine(
        bundle,
        ModelBindings({}, default="scripted", wrap=lambda _model: Watching()),
        subscribers=[events.append],
        stream_text=stream_text,
    )
    asyncio.run(engine.run(plan_units(bundle, scenarios(1))))
    kinds = {type(event).__name__ for event in events}
    assert "TurnFinished" in kinds and "UnitFinished" in kinds
    assert ("TextDelta" in kinds) is stream_text
    assert asked and any(asked) is stream_text
    if stream_text:  # a speech's deltas add up to its text, the debater's opening first
        first = next(e for e in events if type(e).__name__ == "TurnFinished")
        pieces = []
        for event in events:
            if event is first:
                break
            if type(event).__name__ == "TextDelta" and event.role == first.role:
                pieces.append(event.text)
        assert pieces[0].startswith("The answer is") and pieces[0].endswith("because")
        assert "".join(pieces) == first.text
