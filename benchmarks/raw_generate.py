"""Tokens/s of the `local` backend's micro-batcher versus plain batched `generate`.

Run from the repository root: `python benchmarks/raw_generate.py [--batches 1,8,32]
[--max-tokens 48] [--model local]`. For each batch size it times, in the same run and
on the same loaded model:
- `raw`: one left-padded `model.generate` call over N chat prompts (greedy);
- `framework`: N concurrent `LocalModel.generate` calls through the micro-batcher.
Both count generated tokens the same way (up to and including EOS, per row); each
figure is the best of `--repeats` runs with the order alternated, and the script
prints one JSON object. `raw_tokens_per_s()` is importable by other benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from debate.models.base import ChatMessage, GenerateConfig  # noqa: E402

TOPICS = (
    "whether cities should ban cars from their centres",
    "whether homework helps children learn",
    "whether the moon landing footage was staged",
    "whether coffee is good for your health",
    "whether remote work makes teams less productive",
    "whether nuclear power is the safest energy source",
    "whether social media harms teenagers",
    "whether a hot dog is a sandwich",
)


def prompts(n: int) -> list[list[ChatMessage]]:
    """N debate-like chats of varied length."""
    chats = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        context = " ".join(["The evidence on both sides deserves a careful look."] * (1 + i % 5))
        chats.append(
            [
                ChatMessage(role="system", content=f"You are debater {i}. Argue your side."),
                ChatMessage(role="user", content=f"Debate {topic}. {context} Give your opening."),
            ]
        )
    return chats


def _count(row: list[int], eos: set[int]) -> int:
    for i, token in enumerate(row):
        if token in eos:
            return i + 1
    return len(row)


def raw_generate(loaded: Any, chats: list[list[ChatMessage]], max_tokens: int) -> tuple[int, float]:
    """Plain greedy batched `generate` over all chats at once: (generated tokens, seconds)."""
    import torch

    ids, mask = loaded.pad([loaded.prompt_ids(chat) for chat in chats])
    start = time.perf_counter()
    with torch.inference_mode():
        out = loaded.model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=max_tokens,
            do_sample=False,
            pad_token_id=loaded.pad_id,
        )
    elapsed = time.perf_counter() - start
    generated = out[:, ids.shape[1] :].tolist()
    return sum(_count(row, loaded.eos_ids) for row in generated), elapsed


def raw_tokens_per_s(loaded: Any, chats: list[list[ChatMessage]], max_tokens: int) -> float:
    """Generated tokens per second of one plain batched `generate` over the chats."""
    tokens, elapsed = raw_generate(loaded, chats, max_tokens)
    return tokens / elapsed


async def framework_tokens_per_s(
    model: Any, chats: list[list[ChatMessage]], max_tokens: int
) -> float:
    """The same chats as concurrent requests through the micro-batcher."""
    config = GenerateConfig(max_tokens=max_tokens)
    start = time.perf_counter()
    done = await asyncio.gather(*(model.generate(chat, config) for chat in chats))
    elapsed = time.perf_counter() - start
    return sum(c.usage.completion_tokens for c in done) / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--model", default="local")
    parser.add_argument("--repeats", type=int, default=2, help="best of N, order alternated")
    args = parser.parse_args()

    from debate.models import create_model

    model: Any = create_model(args.model, max_batch_size=64)
    loaded = model.loaded
    await model.generate(prompts(1)[0], GenerateConfig(max_tokens=2))  # warm-up
    result: dict[str, Any] = {"model": args.model, "max_tokens": args.max_tokens}
    for size in (int(b) for b in args.batches.split(",")):
        chats = prompts(size)
        raw = fw = 0.0
        for repeat in range(args.repeats):  # alternate the order so drifting load hits both
            if repeat % 2:
                fw = max(fw, await framework_tokens_per_s(model, chats, args.max_tokens))
            raw = max(raw, raw_tokens_per_s(loaded, chats, args.max_tokens))
            if not repeat % 2:
                fw = max(fw, await framework_tokens_per_s(model, chats, args.max_tokens))
        result[f"batch_{size}"] = {
            "raw_generate_tokens_per_s": round(raw, 1),
            "framework_tokens_per_s": round(fw, 1),
            "ratio_vs_raw": round(fw / raw, 3),
        }
    result["batches_run"] = model.stats.batches
    await model.aclose()
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
