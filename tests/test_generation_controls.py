"""Stop strings and repetition controls: declarations, model strings, the local backend's
per-row penalties, the OpenAI request fields, the cache key; and word limits."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from debate.core.declarations import AgentSpec
from debate.core.speeches import limit_words
from debate.errors import DebateInputError
from debate.models import ChatMessage, Completion, GenerateConfig, create_model
from debate.models.cache import cache_key
from debate.models.scripted import ScriptedModel
from debate.models.settings import ControlledModel, split_model_string

# ----- word limits -----------------------------------------------------------------------


def test_word_limit_counts_words_across_line_breaks_and_keeps_them() -> None:
    assert limit_words("one two three\nfour five six\nseven eight", 5) == (
        "one two three\nfour five",
        True,
    )
    assert limit_words("one  two\n\nthree", 3) == ("one  two\n\nthree", False)
    assert limit_words("a\tb\tc", 2) == ("a\tb", True)
    assert limit_words("anything", None) == ("anything", False)


# ----- model strings ---------------------------------------------------------------------


def test_model_string_carries_controls_and_rejects_unknown_ones() -> None:
    base, controls = split_model_string("local?repetition_penalty=1.2,stop=\\n\\n,stop=END")
    assert base == "local"
    assert controls is not None
    assert controls.repetition_penalty == 1.2
    assert controls.stop == ["\n\n", "END"]
    assert split_model_string("openai/gpt-4o") == ("openai/gpt-4o", None)
    with pytest.raises(DebateInputError, match="foo: unknown setting"):
        split_model_string("local?foo=1")
    with pytest.raises(DebateInputError, match="presence_penalty"):
        split_model_string("local?presence_penalty=9")
    with pytest.raises(DebateInputError, match="not key=value"):
        split_model_string("local?stop")


def recording_model(name: str = "scripted") -> tuple[ScriptedModel, list[GenerateConfig]]:
    seen: list[GenerateConfig] = []

    def responder(_messages: Sequence[ChatMessage], config: GenerateConfig) -> str:
        seen.append(config)
        return "ok"

    return ScriptedModel(name, responder=responder), seen


def test_controlled_model_overrides_the_agent_and_adds_its_stop_strings() -> None:
    inner, seen = recording_model()
    base, controls = split_model_string("scripted?repetition_penalty=1.5,stop=###")
    assert controls is not None
    model = ControlledModel(inner, controls, "scripted?repetition_penalty=1.5,stop=###")
    asked = GenerateConfig(stop=("END",), repetition_penalty=1.1, presence_penalty=0.5)
    asyncio.run(model.generate([ChatMessage("user", "hi")], asked))
    assert seen[0].repetition_penalty == 1.5
    assert seen[0].presence_penalty == 0.5
    assert seen[0].stop == ("END", "###")


def test_create_model_wraps_a_model_string_with_controls() -> None:
    model: Any = create_model("scripted?no_repeat_ngram_size=3")
    assert isinstance(model, ControlledModel)
    assert model.name == "scripted?no_repeat_ngram_size=3"
    assert model.controls.no_repeat_ngram_size == 3


def test_agent_declaration_controls_reach_the_request() -> None:
    from debate.core.declarations import Bundle, ProtocolSpec, RoleSpec
    from debate.core.engine import Engine, ModelBindings, plan_units
    from debate.core.scenarios import load_scenarios
    from debate.core.steps import parse_steps

    agent = AgentSpec(
        name="controlled",
        system="Argue for {{ my_answer }}.",
        instruction="Go.",
        stop=["\n\n"],
        repetition_penalty=1.3,
        no_repeat_ngram_size=4,
    )
    protocol = ProtocolSpec(
        name="one-speech",
        roles={"debater_a": RoleSpec(agent="controlled", defends=0)},
        rounds=[{"speak": ["debater_a"]}],
    )
    problems: list[str] = []
    steps = parse_steps(protocol.rounds, protocol, "test", problems)
    bundle = Bundle(
        protocol=protocol, steps=steps, agents={"controlled": agent}, judges={}, source="test"
    )
    model, seen = recording_model()
    bindings = ModelBindings({}, default="unused")
    bindings._models[("unused", None)] = model
    engine = Engine(bundle, bindings)
    plans = plan_units(bundle, load_scenarios("truthfulqa-sample", limit=1), seed=0)
    asyncio.run(engine.run(plans))
    assert seen and seen[0].stop == ("\n\n",)
    assert (seen[0].repetition_penalty, seen[0].no_repeat_ngram_size) == (1.3, 4)


def test_agent_controls_are_validated() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        AgentSpec(name="x", system="s", repetition_penalty=0)
    with pytest.raises(ValidationError):
        AgentSpec(name="x", system="s", stop=["s"] * 9)


# ----- cache and OpenAI requests ---------------------------------------------------------


def test_cache_key_is_unchanged_for_requests_without_controls() -> None:
    import hashlib
    import json

    messages = [ChatMessage("user", "hi")]
    config = GenerateConfig(max_tokens=5, seed=1)
    old_settings = {
        "max_tokens": 5,
        "temperature": 0.0,
        "top_p": 1.0,
        "seed": 1,
        "stop": [],
        "choices": None,
        "epoch": 0,
    }
    payload = {"v": 1, "model": "m", "messages": [["user", "hi"]], "config": old_settings}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert cache_key("m", messages, config) == hashlib.sha256(canonical.encode()).hexdigest()
    penalised = GenerateConfig(max_tokens=5, seed=1, repetition_penalty=1.3)
    assert cache_key("m", messages, penalised) != cache_key("m", messages, config)


def test_openai_requests_carry_frequency_and_presence_penalties() -> None:
    model: Any = create_model("openai/some-model", base_url="http://127.0.0.1:9/v1")
    request = model._request(
        [ChatMessage("user", "hi")],
        GenerateConfig(stop=("END",), frequency_penalty=0.4, presence_penalty=0.2,
                       repetition_penalty=1.3),
    )  # fmt: skip
    assert request["frequency_penalty"] == 0.4 and request["presence_penalty"] == 0.2
    assert request["stop"] == ["END"]
    assert "repetition_penalty" not in request  # not part of the API
    plain = model._request([ChatMessage("user", "hi")], GenerateConfig())
    assert "frequency_penalty" not in plain and "presence_penalty" not in plain


# ----- the local backend's per-row penalties ---------------------------------------------


def test_row_penalties_act_on_generated_tokens_only_and_per_row() -> None:
    import torch

    from debate.models.batching import RowPenalties

    scores = torch.tensor([[2.0, -1.0, 1.0, 0.5], [2.0, -1.0, 1.0, 0.5]])
    # prompt width 2: tokens 0 and 3 are prompt, token 1 was generated
    input_ids = torch.tensor([[0, 3, 1], [0, 3, 1]])
    configs = [GenerateConfig(repetition_penalty=2.0), GenerateConfig()]
    out = RowPenalties(configs, start=2, device=torch.device("cpu"))(input_ids, scores.clone())
    assert out[0].tolist() == [2.0, -2.0, 1.0, 0.5]  # generated token 1 penalised only
    assert out[1].tolist() == scores[1].tolist()  # the other row untouched

    counts = [GenerateConfig(frequency_penalty=0.5, presence_penalty=0.25)]
    ids = torch.tensor([[0, 1, 1, 2]])
    out = RowPenalties(counts, start=1, device=torch.device("cpu"))(ids, torch.zeros((1, 4)))
    assert out[0].tolist() == [0.0, -1.25, -0.75, 0.0]


def test_no_repeat_ngram_bans_the_token_that_would_repeat_an_ngram_of_the_reply() -> None:
    import torch

    from debate.models.batching import RowPenalties

    config = [GenerateConfig(no_repeat_ngram_size=2)]
    ids = torch.tensor([[9, 1, 2, 3, 1]])  # reply 1 2 3 1: "1 2" was said, so 2 is banned
    out = RowPenalties(config, start=1, device=torch.device("cpu"))(ids, torch.zeros((1, 10)))
    assert out[0, 2] == float("-inf")
    assert int((out[0] == float("-inf")).sum()) == 1


@pytest.mark.slow
def test_local_penalties_are_per_row_and_the_embedded_defaults_apply() -> None:
    model: Any = create_model("local")
    assert model.generation_defaults == {"repetition_penalty": 1.3}
    prompt = [ChatMessage("user", "Repeat the word cat ten times.")]
    plain = GenerateConfig(max_tokens=16, repetition_penalty=1.0)
    strong = GenerateConfig(max_tokens=16, repetition_penalty=3.0)

    async def alone(config: GenerateConfig) -> Completion:
        return await model.generate(prompt, config)

    async def together() -> list[Completion]:
        return list(await asyncio.gather(*(model.generate(prompt, c) for c in (plain, strong))))

    plain_alone = asyncio.run(alone(plain)).text
    strong_alone = asyncio.run(alone(strong)).text
    both = asyncio.run(together())
    assert [c.text for c in both] == [plain_alone, strong_alone]
    assert plain_alone != strong_alone


def test_copy_block_bans_ngrams_of_earlier_turns_but_not_of_the_system_prompt() -> None:
    import torch

    from debate.models.batching import Request, Row, RowCopyBlock, copy_table

    system = [1, 2, 3]  # e.g. the question and the answers
    conversation = [1, 2, 3, 7, 8, 9]  # an earlier turn restating them, then new words
    table = copy_table(conversation, system, 3)
    assert (1, 2) not in table  # "1 2 3" is the system prompt's: it may be restated
    assert table[(7, 8)] == {9} and table[(3, 7)] == {8}

    config = GenerateConfig(no_copy_ngram_size=3)
    loop = asyncio.new_event_loop()
    try:
        request = Request([], config, None, loop, loop.create_future())
        row = Row(request, system + conversation, max_new=4, blocked=table)
        free = Row(Request([], GenerateConfig(), None, loop, loop.create_future()), [], 4)
        block = RowCopyBlock([row, free])
        ids = torch.tensor([[5, 7, 8], [5, 7, 8]])
        out = block(ids, torch.zeros((2, 10)))
        assert out[0, 9] == float("-inf") and int((out[0] == float("-inf")).sum()) == 1
        assert not bool((out[1] == float("-inf")).any())
    finally:
        loop.close()


# ----- speech openings -------------------------------------------------------------------


def one_speech(agent: AgentSpec, model: Any) -> dict[str, Any]:
    from debate.core.declarations import Bundle, ProtocolSpec, RoleSpec
    from debate.core.engine import Engine, ModelBindings, plan_units
    from debate.core.scenarios import load_scenarios
    from debate.core.steps import parse_steps

    protocol = ProtocolSpec(
        name="one-speech",
        roles={"debater_a": RoleSpec(agent=agent.name, defends=0)},
        rounds=[{"speak": ["debater_a"]}],
    )
    problems: list[str] = []
    steps = parse_steps(protocol.rounds, protocol, "test", problems)
    bundle = Bundle(
        protocol=protocol, steps=steps, agents={agent.name: agent}, judges={}, source="test"
    )
    bindings = ModelBindings({}, default="unused")
    bindings._models[("unused", None)] = model
    engine = Engine(bundle, bindings)
    plans = plan_units(bundle, load_scenarios("truthfulqa-sample", limit=1), seed=0)
    engine.run_to_end(plans)
    assert not engine.failures, engine.failures
    return dict(engine.records[0]["messages"][0])


OPENING = 'The answer is "{{ my_answer }}" because'


def test_an_opening_is_put_in_front_of_a_reply_the_backend_could_not_prefill() -> None:
    model, seen = recording_model()
    agent = AgentSpec(name="opener", system="Argue.", instruction="Go.", opening=OPENING)
    message = one_speech(agent, model)
    opening = seen[0].opening
    assert opening.startswith('The answer is "') and opening.endswith('" because')
    assert message["text"] == f"{opening} ok"
    assert message["meta"]["opening"] == opening


def test_an_agent_that_keeps_a_tagged_part_has_no_opening() -> None:
    model, seen = recording_model()
    agent = AgentSpec(
        name="tagged", system="Argue.", instruction="Go.", opening=OPENING, extract_tag="argument"
    )
    message = one_speech(agent, model)
    assert seen[0].opening == "" and "opening" not in message.get("meta", {})


def test_the_embedded_model_continues_its_opening() -> None:
    model: Any = create_model("local")
    config = GenerateConfig(max_tokens=12, opening="The sky is blue because")
    done = asyncio.run(model.generate([ChatMessage("user", "Why is the sky blue?")], config))
    assert done.prefill == "The sky is blue because" and done.text.strip()
    assert not done.text.lstrip().startswith("The sky is blue because")
    agent = AgentSpec(name="opener", system="Argue.", instruction="Go.", opening=OPENING,
                      max_tokens=12)  # fmt: skip
    message = one_speech(agent, model)
    opening = message["meta"]["opening"]
    assert message["text"].startswith(opening) and len(message["text"]) > len(opening)
    assert message["text"].count(opening) == 1


def test_a_bad_opening_fails_validation_with_one_line(tmp_path: Any) -> None:
    from conftest import run_cli

    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\nsystem: Argue.\nopening: 'I {% if %}'\n")
    done = run_cli("validate", str(broken))
    assert done.returncode == 2 and "opening: template syntax error" in done.stderr
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("name: unknown\nsystem: Argue.\nopening: 'I say {{ nonsense }}'\n")
    protocol = tmp_path / "uses.yaml"
    protocol.write_text(
        f"name: uses\nroles:\n  debater_a: {{agent: {unknown}, defends: 0}}\n"
        "rounds:\n  - speak: [debater_a]\n"
    )
    done = run_cli("validate", str(protocol))
    assert done.returncode == 2 and "opening" in done.stderr and "nonsense" in done.stderr
    assert "Traceback" not in done.stderr
