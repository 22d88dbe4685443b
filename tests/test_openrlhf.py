"""`serve-reward` fed exactly as OpenRLHF's remote reward client feeds it.

OpenRLHF's `SingleTurnAgentExecutor` applies the policy's chat template to the dataset
prompt (`apply_chat_template(chat, tokenize=False, add_generation_prompt=True)`),
tokenizes it with `add_special_tokens=False`, generates, and posts
`{"query": [decode(prompt_ids + response_ids, skip_special_tokens=False)],
"prompts": [prompt], "labels": [row[--data.label_key]]}` with aiohttp. Here the policy's
tokenizer is the embedded SmolLM2's (ChatML), and the response ends with its
end-of-sequence token `<|im_end|>`, as a vLLM generation does. The stored debates show
the question and the answers each debate was given.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from reward_server import reward_server

from debate.rl.markup import TextCleaner

QUESTION = "What is the capital of France?"
RESPONSE = "Paris is the capital."


@pytest.fixture(scope="module")
def tokenizer_dir() -> Path:
    from debate.models.embedded import embedded_checkpoint_dir

    return embedded_checkpoint_dir()


def openrlhf_request(tokenizer_dir: Path, label: Any) -> dict[str, Any]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    chat = [
        {"role": "system", "content": "Answer in one sentence."},
        {"role": "user", "content": QUESTION},
    ]
    prompt = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(text=prompt, add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(RESPONSE, add_special_tokens=False)["input_ids"]
    response_ids.append(tokenizer.eos_token_id)
    query = tokenizer.decode(prompt_ids + response_ids, skip_special_tokens=False)
    assert "<|im_start|>user" in prompt and query.endswith("<|im_end|>")
    return {"query": [query], "prompts": [prompt], "labels": [label]}


async def post(url: str, payload: dict[str, Any]) -> Any:
    timeout = aiohttp.ClientTimeout(total=180)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(url + "/get_reward", json=payload) as response,
    ):
        response.raise_for_status()
        return await response.json()


@pytest.mark.parametrize("with_tokenizer", [True, False], ids=["tokenizer", "markers"])
def test_templated_request(tokenizer_dir: Path, tmp_path: Path, with_tokenizer: bool) -> None:
    store = tmp_path / "debates"
    options = ["--judge", "scripted", "--debater", "scripted", "--store", str(store)]
    if with_tokenizer:
        options += ["--tokenizer", str(tokenizer_dir)]
    plain = openrlhf_request(tokenizer_dir, "London")
    carried = openrlhf_request(tokenizer_dir, {"question": "Capital of France?", "gold": "Paris"})
    carried["labels"][0]["alternative"] = "Lyon"
    with reward_server(*options) as url:
        replies = [asyncio.run(post(url, plain)), asyncio.run(post(url, carried))]
    for reply in replies:
        assert len(reply["rewards"]) == len(reply["scores"]) == 1
        assert 0.0 <= reply["scores"][0] <= 1.0
        assert reply["scores"][0] == pytest.approx((reply["rewards"][0] + 1) / 2)  # λ = 1
    debates = [json.loads(line) for line in (store / "transcripts.jsonl").read_text().splitlines()]
    used = {(d["question"], frozenset(d["answers"])) for d in debates}
    assert used == {
        (QUESTION, frozenset({RESPONSE, "London"})),  # the question from the user turn
        ("Capital of France?", frozenset({RESPONSE, "Lyon"})),  # the label's question
    }
    assert "<|im_" not in json.dumps(debates) and "Answer in one sentence" not in json.dumps(
        [d["question"] for d in debates]
    )


@pytest.mark.parametrize(
    ("prompt", "query_tail"),
    [
        (
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nCapital of Peru?<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            "Lima.<|eot_id|>",
        ),
        (
            "<bos><start_of_turn>user\nCapital of Peru?<end_of_turn>\n<start_of_turn>model\n",
            "Lima.<end_of_turn>\n<eos>",
        ),
        ("<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nCapital of Peru? [/INST]", " Lima.</s>"),
        ("<|user|>\nCapital of Peru?<|end|>\n<|assistant|>\n", "Lima.<|end|><|endoftext|>"),
        (
            "<｜begin▁of▁sentence｜><｜User｜>Capital of Peru?<｜Assistant｜>",
            "Lima.<｜end▁of▁sentence｜>",
        ),
        ("User: Capital of Peru?\nAssistant: ", "Lima."),
        ("Capital of Peru? ", "Lima."),
    ],
    ids=["llama3", "gemma", "llama2", "phi3", "deepseek", "plain-template", "no-template"],
)
def test_template_markers_without_a_tokenizer(prompt: str, query_tail: str) -> None:
    cleaner = TextCleaner()
    assert cleaner.question(prompt) == "Capital of Peru?"
    assert cleaner.response(prompt + query_tail, prompt) == "Lima."


def test_response_when_the_query_does_not_repeat_the_prompt_exactly() -> None:
    cleaner = TextCleaner()
    prompt = "<|im_start|>user\nCapital of Peru?<|im_end|>\n<|im_start|>assistant\n"
    query = "<|im_start|>user\nCapital of  Peru?<|im_end|>\n<|im_start|>assistant\nLima.<|im_end|>"
    assert cleaner.response(query, prompt) == "Lima."
