"""The LOGICOM protocol on the engine with scripted agents: every stop rule, the helper's
structured output (malformed output retried, then recorded), and that only the helper's
response reaches the debater."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from debate.core.engine import Engine, ModelBindings, plan_units
from debate.core.loading import load_protocol
from debate.core.moderation import parse_yes_no
from debate.core.rewrite import parse_fields
from debate.core.scenarios import Scenario
from debate.core.store import RunStore
from debate.errors import DebateInputError
from debate.logicom.stats import logicom_stats
from debate.models.base import ChatMessage, GenerateConfig
from debate.models.scripted import ScriptedModel

CLAIM = Scenario(
    id="logicom-t1",
    question="Cities should ban cars from their centres",
    source="logicom",
    fields={"topic": "Car-free city centres?", "claim": "x", "reason": "Streets are safer."},
)
FALLACY_REPLY = (
    "<fallacy>Bandwagon</fallacy><argument>SECRET-ARGUMENT everyone does it</argument>"
    "<response>Every big city already agrees. Are you convinced?</response>"
)
Reply = Callable[[Sequence[ChatMessage], GenerateConfig], str]


def from_round(first: int, then: str = "Answer: Yes", before: str = "Answer: No") -> Reply:
    """A moderator that answers `before` until round `first`, then `then` (3 instances)."""
    calls = {"n": 0}

    def reply(messages: Sequence[ChatMessage], config: GenerateConfig) -> str:
        calls["n"] += 1
        return then if (calls["n"] - 1) // 3 + 1 >= first else before

    return reply


def script(**overrides: Reply) -> dict[str, Reply]:
    """Default behaviour per role: never convinced, no loop, on topic, well-formed helpers."""
    replies: dict[str, Reply] = {
        "persuader": lambda m, c: "DRAFT-TEXT the persuader's own reply.",
        "helper_logical": lambda m, c: "<response>A fair, logical reply. Convinced?</response>",
        "helper_fallacy": lambda m, c: FALLACY_REPLY,
        "debater": lambda m, c: "I am not convinced.",
        "moderator_convinced": lambda m, c: "Answer: No",
        "moderator_loop": lambda m, c: "Answer: No",
        "moderator_topic": lambda m, c: "Answer: Yes",
    }
    replies.update(overrides)
    return replies


class ScriptedEngine(Engine):
    replies: dict[str, Reply]
    calls: dict[str, list[list[ChatMessage]]]

    def bind_roles(self) -> Any:
        roles = super().bind_roles()
        for name, bound in roles.items():
            reply = self.replies[name]

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
    replies: dict[str, Reply],
    condition: str = "fallacy",
    protocol: str = "logicom",
    store: RunStore | None = None,
    repeats: int = 1,
) -> tuple[dict[str, Any], ScriptedEngine]:
    bundle = load_protocol(protocol)
    plans = plan_units(bundle, [CLAIM], variants={"condition": [condition]}, repeats=repeats)
    engine = ScriptedEngine(bundle=bundle, bindings=ModelBindings({}, default="scripted"))
    engine.store = store
    engine.replies = replies
    engine.calls = {}
    records = asyncio.run(engine.run(plans))
    assert not engine.failures, engine.failures
    return records[0], engine


def checks(record: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return record["state"]["checks"][name]


# ---------------------------------------------------------------- stop rules


def test_all_moderators_convinced_stops() -> None:
    convinced = script(moderator_convinced=from_round(3))
    record, _ = run(convinced)
    assert record["stop_reason"] == "convinced"
    assert record["rounds"] == 3
    assert [e["fired"] for e in checks(record, "convinced")] == [False, False, True]
    assert checks(record, "convinced")[-1]["answers"] == [True, True, True]
    assert "greeting_loop" not in record["state"]["checks"] or all(
        e["round"] < 3 for e in checks(record, "greeting_loop")
    )


def test_two_of_three_convinced_is_not_enough() -> None:
    calls = {"n": 0}

    def two_of_three(m: Sequence[ChatMessage], c: GenerateConfig) -> str:
        calls["n"] += 1
        return "Answer: No" if calls["n"] % 3 == 0 else "Answer: Yes"

    record, _ = run(script(moderator_convinced=two_of_three))
    assert record["stop_reason"] == "not_convinced_limit"
    assert all(e["answers"].count(True) == 2 for e in checks(record, "convinced"))


def test_greeting_loop_stops() -> None:
    loop = script(moderator_loop=from_round(2, before="No"))
    record, _ = run(loop)
    assert record["stop_reason"] == "greeting_loop"
    assert record["rounds"] == 2


def test_convinced_wins_over_greeting_loop_in_the_same_round() -> None:
    both = script(
        moderator_convinced=lambda m, c: "Answer: Yes",
        moderator_loop=lambda m, c: "Answer: Yes",
    )
    record, _ = run(both)
    assert (record["stop_reason"], record["rounds"]) == ("convinced", 1)


def test_not_convinced_counter_passes_ten() -> None:
    record, _ = run(script())
    assert record["stop_reason"] == "not_convinced_limit"
    assert record["rounds"] == 11  # the 11th not-convinced round passes the limit of 10
    assert record["state"]["counters"]["convinced"] == 11


def test_moderators_see_only_recent_history() -> None:
    record, engine = run(script())
    last_chat = engine.calls["moderator_convinced"][-1]
    assert [m.role for m in last_chat] == ["system", "user"]
    shown = last_chat[1].content
    assert shown.count("Debater:") == 1 and shown.count("Persuader:") == 1  # history: 2
    loop_chat = engine.calls["moderator_loop"][-1][1].content
    assert loop_chat.count("Debater:") == 2 and loop_chat.count("Persuader:") == 2
    assert record["rounds"] == 11


def test_topic_check_is_recorded_only() -> None:
    off_topic = script(moderator_topic=lambda m, c: "Answer: No")
    record, _ = run(off_topic)
    assert record["stop_reason"] == "not_convinced_limit"
    assert all(e["answers"] == [False] * 3 for e in checks(record, "on_topic"))


def test_twelve_rounds_then_completed(tmp_path: Path) -> None:
    source = Path(load_protocol("logicom").source).read_text(encoding="utf-8")
    relaxed = source.replace("limit: 10", "limit: 50")
    assert relaxed != source
    path = tmp_path / "logicom-relaxed.yaml"
    path.write_text(relaxed, encoding="utf-8")
    record, _ = run(script(), protocol=str(path))
    assert record["stop_reason"] == "completed"
    assert record["rounds"] == 12
    store_dir = tmp_path / "run"
    store = RunStore(store_dir)
    run(script(), protocol=str(path), store=store)
    store.close()
    stats = logicom_stats(store_dir)["models"]["scripted/debater"]
    assert stats["stop_reasons"]["fallacy"]["max_rounds"] == 1


def test_unreadable_moderator_is_invalid_and_never_a_yes() -> None:
    record, engine = run(script(moderator_convinced=lambda m, c: "Hmm, hard to say."))
    assert record["stop_reason"] == "not_convinced_limit"
    assert checks(record, "convinced")[0]["answers"] == [None, None, None]
    hidden = [m for m in record["messages"] if m.get("kind") == "check"]
    invalid = [m for m in hidden if m["meta"]["check"] == "convinced"]
    assert invalid and all(not m["meta"]["valid"] and m["meta"]["attempts"] == 3 for m in invalid)
    # each instance asked once and retried twice (the judge's `retries: 2`)
    assert len(engine.calls["moderator_convinced"]) == 3 * 3 * record["rounds"]


# ---------------------------------------------------------------- helper output


def debater_inputs(engine: ScriptedEngine) -> str:
    return "\n".join(m.content for chat in engine.calls["debater"] for m in chat)


def test_only_the_response_reaches_the_debater() -> None:
    record, engine = run(script())
    seen = debater_inputs(engine)
    assert "Every big city already agrees." in seen
    assert "DRAFT-TEXT" not in seen and "SECRET-ARGUMENT" not in seen
    assert "Bandwagon" not in seen and "<response>" not in seen
    moderators = "\n".join(m.content for chat in engine.calls["moderator_convinced"] for m in chat)
    assert "DRAFT-TEXT" not in moderators and "SECRET-ARGUMENT" not in moderators
    delivered = [
        m for m in record["messages"] if m["role"] == "persuader" and m["kind"] == "speech"
    ]
    assert delivered[0]["meta"]["template"] == "opening"
    rewritten = delivered[1:]
    assert len(rewritten) == record["rounds"] - 1
    assert all(m["meta"]["fallacy"] == "Bandwagon" for m in rewritten)
    assert all(m["meta"]["argument"].startswith("SECRET-ARGUMENT") for m in rewritten)
    drafts = [m for m in record["messages"] if m.get("kind") == "draft"]
    assert drafts and all("DRAFT-TEXT" in m["text"] for m in drafts)


def test_hidden_messages_stay_hidden_in_the_record() -> None:
    record, _ = run(script())
    hidden = [m for m in record["messages"] if m["kind"] in ("draft", "rewrite", "check")]
    assert hidden and all(m.get("visible_to") == [] for m in hidden)


def test_helper_sees_the_draft() -> None:
    _, engine = run(script())
    assert "DRAFT-TEXT" in engine.calls["helper_fallacy"][0][-1].content


def test_malformed_helper_output_is_retried() -> None:
    attempts = {"n": 0}

    def flaky(m: Sequence[ChatMessage], c: GenerateConfig) -> str:
        attempts["n"] += 1
        return "Sure! Here you go: everyone agrees." if attempts["n"] % 2 == 1 else FALLACY_REPLY

    record, engine = run(script(helper_fallacy=flaky))
    rewrites = [m for m in record["messages"] if m.get("kind") == "rewrite"]
    assert rewrites and all(m["meta"]["valid"] and m["meta"]["attempts"] == 2 for m in rewrites)
    retry_prompt = engine.calls["helper_fallacy"][1][-1].content
    assert "<fallacy>" in retry_prompt and "<response>" in retry_prompt
    assert "Sure! Here you go" not in debater_inputs(engine)
    assert record["state"].get("rewrite_failures", 0) == 0


def test_malformed_helper_output_is_recorded_and_the_draft_delivered(tmp_path: Path) -> None:
    garbled = script(helper_fallacy=lambda m, c: "<fallacy>Straw man</fallacy> no response tag")
    store = RunStore(tmp_path)
    record, engine = run(garbled, store=store)
    store.close()
    rewrites = [m for m in record["messages"] if m.get("kind") == "rewrite"]
    assert all(not m["meta"]["valid"] and len(m["meta"]["raw"]) == 3 for m in rewrites)
    assert record["state"]["rewrite_failures"] == record["rounds"] - 1
    delivered = [
        m for m in record["messages"] if m["role"] == "persuader" and m["kind"] == "speech"
    ]
    assert all(m["meta"].get("rewrite_failed") for m in delivered[1:])
    assert "DRAFT-TEXT" in debater_inputs(engine)  # the unrewritten reply went through
    stats = logicom_stats(tmp_path)["models"]["scripted/debater"]
    assert stats["helper_failures"]["fallacy"] == record["rounds"] - 1
    assert "helper_fallacies" not in stats  # no label was ever delivered


def test_on_failure_stop(tmp_path: Path) -> None:
    source = Path(load_protocol("logicom").source).read_text(encoding="utf-8")
    path = tmp_path / "logicom-strict.yaml"
    path.write_text(source.replace("on_failure: draft", "on_failure: stop"), encoding="utf-8")
    record, _ = run(script(helper_fallacy=lambda m, c: "no tags"), protocol=str(path))
    assert record["stop_reason"] == "rewrite_failed"
    assert record["rounds"] == 1


def test_conditions_pick_the_helper() -> None:
    record, engine = run(script(), condition="none")
    assert "helper_fallacy" not in engine.calls and "helper_logical" not in engine.calls
    assert "DRAFT-TEXT" in debater_inputs(engine)
    assert not [m for m in record["messages"] if m.get("kind") in ("draft", "rewrite")]
    record, engine = run(script(), condition="logical")
    assert "helper_fallacy" not in engine.calls
    seen = debater_inputs(engine)
    assert "A fair, logical reply." in seen and "DRAFT-TEXT" not in seen


def test_unknown_condition_is_one_clear_error() -> None:
    with pytest.raises(DebateInputError) as info:
        run(script(), condition="socratic")
    assert len(info.value.lines) == 1
    assert "condition 'socratic' is not one of: none, logical, fallacy" in info.value.lines[0]


def test_fallacy_variant_restricts_the_helper() -> None:
    bundle = load_protocol("logicom")
    plans = plan_units(
        bundle, [CLAIM], variants={"condition": ["fallacy"], "fallacy": ["straw man"]}
    )
    engine = ScriptedEngine(bundle=bundle, bindings=ModelBindings({}, default="scripted"))
    engine.replies, engine.calls = script(), {}
    asyncio.run(engine.run(plans))
    prompt = engine.calls["helper_fallacy"][0][-1].content
    assert "Rebuild the reply around this fallacy: straw man." in prompt
    assert "ad hominem" not in prompt


def test_run_directory_stats(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    convinced = script(moderator_convinced=lambda m, c: "Answer: Yes")
    run(convinced, condition="fallacy", store=store, repeats=2)
    run(script(), condition="logical", store=store, repeats=2)
    store.close()
    stats = logicom_stats(tmp_path)["models"]["scripted/debater"]
    assert stats["repeats"] == 2
    assert stats["all_success_claims"] == {"logical": 0, "fallacy": 1}
    assert stats["convinced_rate"]["fallacy"]["value"] == 1.0
    assert stats["fallacy_vs_logical_increase"] is None


# ---------------------------------------------------------------- declarations and parsers


def test_bad_step_references_are_one_line_each(tmp_path: Path) -> None:
    source = Path(load_protocol("logicom").source).read_text(encoding="utf-8")
    path = tmp_path / "broken.yaml"
    path.write_text(
        source.replace("check: moderator_loop", "check: debater").replace(
            "role: helper_logical", "role: helper_nobody"
        ),
        encoding="utf-8",
    )
    with pytest.raises(DebateInputError) as info:
        load_protocol(str(path))
    text = "\n".join(info.value.lines)
    assert re.search(r"rounds\[3\]\.check: role 'debater' is not a judge", text)
    assert "by.logical: unknown role 'helper_nobody'" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Answer: Yes", True),
        ("answer: **no**", False),
        ("Yes, they accept it.", True),
        ("No.", False),
        ("Answer: No\nAnswer: Yes", True),
        ("They seem unsure.", None),
        ("Yesterday they said no", None),
    ],
)
def test_parse_yes_no(text: str, expected: bool | None) -> None:
    assert parse_yes_no(text, ("Yes", "No")) is expected


def test_parse_fields_tags_and_json() -> None:
    names = ["fallacy", "argument", "response"]
    assert parse_fields(FALLACY_REPLY, names)["fallacy"] == "Bandwagon"
    open_last = "<fallacy>Straw Man</fallacy>\n<argument>x</argument>\n<response>Agree?"
    assert parse_fields(open_last, names)["response"] == "Agree?"
    as_json = '{"Fallacy": "False dilemma", "argument": "a", "response": "b"}'
    assert parse_fields(as_json, names) == {
        "fallacy": "False dilemma",
        "argument": "a",
        "response": "b",
    }
    assert parse_fields("<response>  </response>", ["response"]) == {}
