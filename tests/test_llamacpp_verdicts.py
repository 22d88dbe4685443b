"""Verdicts read through a real server that returns logprobs: llama-cpp-python on the GGUF.

llama-cpp-python's OpenAI-compatible server runs the embedded SmolLM2-135M GGUF and
returns `logprobs` with `top_logprobs` on its chat endpoint. It does not continue a
prefilled assistant turn, so the judge's label is found in the reply, after the reply's
own `Answer:`. The same chat through the `local` backend (the same weights, dequantised to
fp32 by transformers, with the assistant turn prefilled with `Answer:`) reads the label
at the same context, so the two distributions must agree up to llama.cpp's arithmetic:
it multiplies the 4-bit weights with activations quantised to 8 bits, where transformers
uses fp32 activations. Measured on the four questions below (greedy, so the same every
run): |p_server(A) - p_local(A)| = 0.003, 0.008, 0.038, 0.004 and the label masses differ
by 0.024, 0.007, 0.009, 0.010; `TOLERANCE` (0.05) is that spread with some room, and far
below what a reading at another position gives (label mass 0.05 against 0.5-0.8 here).

The server is started once per module on a free loopback port and stopped at the end;
the tests skip when `llama_cpp` is not importable. They load the model, so they are slow.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import pytest
from llamacpp import SERVED_NAME, LlamaCppServer, llamacpp_fixture  # noqa: F401

from debate.core.declarations import JudgeSpec
from debate.core.judges import read_reply
from debate.models import ChatMessage, Completion, GenerateConfig, create_model

pytestmark = pytest.mark.slow

LABELS = ("A", "B")
JUDGE = GenerateConfig(max_tokens=8, temperature=0.0, choices=LABELS, answer_prefix="Answer:")
TOLERANCE = 0.05  # |p_server(A) - p_local(A)| and |mass_server - mass_local|; see the docstring

QUESTIONS = [
    ("What happens if you eat watermelon seeds?",
     ["Nothing happens; they pass through your digestive system",
      "You grow watermelons in your stomach"]),
    ("Is the Earth flat?", ["Yes, the Earth is flat", "No, the Earth is roughly spherical"]),
    ("What is the capital of France?", ["Paris", "Lyon"]),
    ("How many legs does a spider have?", ["Eight", "Six"]),
]  # fmt: skip


def judge_chat(question: str, answers: Sequence[str]) -> list[ChatMessage]:
    """A judge chat the 135M model answers in the form `Answer: X` (one worked example)."""
    return [
        ChatMessage("system", "You are a judge. Reply with one line: Answer: A or Answer: B."),
        ChatMessage("user", "Question: What color is the sky on a clear day?\nA: Green\nB: Blue"),
        ChatMessage("assistant", "Answer: B"),
        ChatMessage("user", f"Question: {question}\nA: {answers[0]}\nB: {answers[1]}"),
    ]


def complete_all(
    model: Any, chats: list[list[ChatMessage]], config: GenerateConfig
) -> list[Completion]:
    async def main() -> list[Completion]:
        try:
            return [await model.generate(chat, config) for chat in chats]
        finally:
            await model.aclose()

    return asyncio.run(main())


def served(server: LlamaCppServer) -> Any:
    return create_model(f"openai/{SERVED_NAME}", base_url=server.base_url, max_retries=1)


def p_a(completion: Completion) -> float:
    assert completion.choice_logprobs is not None
    return math.exp(completion.choice_logprobs["A"])


def test_the_label_is_read_after_answer_and_agrees_with_the_local_backend(
    llamacpp: LlamaCppServer,
) -> None:
    chats = [judge_chat(q, answers) for q, answers in QUESTIONS]
    server = complete_all(served(llamacpp), chats, JUDGE)
    local = complete_all(create_model("local"), chats, JUDGE)
    spec = JudgeSpec(name="j", system="s", instruction="i")
    pairs = [(r, h) for r, h in zip(server, local, strict=True) if r.text.startswith("Answer:")]
    assert len(pairs) >= 2, [r.text for r in server]  # greedy: the same replies every run
    for remote, here in pairs:
        # the reply wrote "Answer:" itself: the label is read at the token after it
        assert remote.prefill == "" and remote.label_position is not None
        assert remote.label_position >= 2 and remote.label_mass is not None
        assert remote.label_mass >= 0.5
        verdict = read_reply(remote, list(LABELS), spec, asked_logprobs=True)
        assert verdict.method == "logprobs" and verdict.fallback is None
        # the local backend prefilled "Answer:": the same context, the same distribution
        assert here.prefill == "Answer:" and here.label_position == 0
        assert abs(p_a(remote) - p_a(here)) <= TOLERANCE
        assert abs(remote.label_mass - (here.label_mass or 0.0)) <= TOLERANCE
