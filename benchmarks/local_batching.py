"""Throughput of concurrent debates on one box: the micro-batched local backend vs raw generate.

Workload: 32 debates run concurrently on one model for every role (default: the embedded
SmolLM2-135M; `--model hf/<dir>` for any checkpoint, on a GPU when present). Each debate
is two debaters with a brief system prompt taking turns for two rounds (four dependent
speeches of at most 32 new tokens; no verdict, so the tokens counted are all speech).
Prompts are kept short because on a 2-core CPU prefill, not decoding, dominates: the
shipped `debate` protocol (three rounds, long prompts, a judge) takes the better part of
an hour for 32 debates there. In the same run:
- `framework_tokens_per_s`: completion tokens of all turns of the 32 debates / wall time;
- `raw_generate_tokens_per_s`: plain left-padded `model.generate` over exactly the chats
  the debaters saw, 32 at a time in the order they were asked (same model, batch size and
  lengths), greedy, the same token cap: the same work without the framework;
- `sequential_tokens_per_s`: 4 of the debates run one request at a time (concurrency 1),
  the way most peer frameworks run turns.
If llama-cpp-python's server is importable, it also serves the same GGUF to the same
debates for `llamacpp_server_tokens_per_s` and `ratio_vs_llamacpp`.

Prints one JSON object (progress on stderr). Target: ratio_vs_raw >= 0.8.
Run from the repository root: python benchmarks/local_batching.py [--model local] [--debates 32]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from debate.core.declarations import Bundle  # noqa: E402
from debate.core.engine import Engine, ModelBindings, plan_units  # noqa: E402
from debate.core.loading import load_protocol  # noqa: E402
from debate.core.scenarios import load_scenarios  # noqa: E402
from debate.models import create_model  # noqa: E402
from debate.models.base import ChatMessage, Completion, GenerateConfig  # noqa: E402

DEBATES = 32
MAX_TOKENS = 32

BRIEF_DEBATER = """\
name: brief-debater
description: A debater with a one-line brief, for throughput measurements.
system: |
  You are {{ name }}. Argue briefly that the answer to "{{ question }}" is "{{ my_answer }}".
instruction: |
  {% if round == 1 %}Give your opening argument.{% else %}Rebut your opponent.{% endif %}
max_tokens: 32
temperature: 0.0
"""

PROTOCOL = """\
name: brief-debate
description: Two brief debaters take turns for two rounds; four dependent speeches.
roles:
  debater_a: {{agent: {agent}, defends: 0}}
  debater_b: {{agent: {agent}, defends: 1}}
rounds:
  - repeat: 2
    speak: [debater_a, debater_b]
swap: false
"""


class Recording:
    """Passes requests through to a model and keeps the speech prompts it saw."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.speech_chats: list[list[ChatMessage]] = []

    async def generate(
        self, messages: Sequence[ChatMessage], config: GenerateConfig, on_delta: Any = None
    ) -> Completion:
        if config.choices is None:
            self.speech_chats.append(list(messages))
        return await self.inner.generate(messages, config, on_delta)

    async def aclose(self) -> None:
        return None


def brief_debate(workdir: Path) -> Bundle:
    agent = workdir / "brief-debater.yaml"
    agent.write_text(BRIEF_DEBATER)
    protocol = workdir / "brief-debate.yaml"
    protocol.write_text(PROTOCOL.format(agent=agent))
    return load_protocol(str(protocol))


async def run_debates(
    bundle: Bundle, model: Any, count: int, concurrency: int
) -> tuple[int, float]:
    scenarios = load_scenarios("truthfulqa-sample", limit=count)
    if len(scenarios) < count:  # the bundled sample has 20 questions: reuse them
        scenarios = [
            s.model_copy(update={"id": f"{s.id}-{i}"})
            for i in range((count + len(scenarios) - 1) // len(scenarios))
            for s in scenarios
        ][:count]
    bindings = ModelBindings({}, default="unused")
    bindings._models[("unused", None)] = model
    engine = Engine(bundle, bindings, concurrency=concurrency)
    plans = plan_units(bundle, scenarios, seed=0, swap=False)
    started = time.perf_counter()
    await engine.run(plans)
    wall = time.perf_counter() - started
    assert len(engine.records) == count, engine.failures[:1]
    tokens = sum(
        usage["completion_tokens"] for r in engine.records for usage in r["usage"].values()
    )
    return tokens, wall


def raw_over_batches(loaded: Any, chats: list[list[ChatMessage]], size: int) -> float:
    """Plain batched `generate` over the chats the debaters saw, `size` at a time in the
    order they were asked (each batch one debate step of every debate), greedy, the same
    token cap: the framework's work without the framework. Generated tokens per second."""
    from raw_generate import raw_generate

    tokens = 0
    seconds = 0.0
    for start in range(0, len(chats), size):
        made, elapsed = raw_generate(loaded, chats[start : start + size], MAX_TOKENS)
        tokens += made
        seconds += elapsed
    return tokens / seconds


def note(message: str) -> None:
    print(f"[local_batching {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="local")
    parser.add_argument("--debates", type=int, default=DEBATES, help="concurrent debates")
    args = parser.parse_args()
    count = args.debates
    note(f"loading {args.model}")
    model: Any = create_model(args.model, max_batch_size=64)
    await model.generate([ChatMessage("user", "Hello")], GenerateConfig(max_tokens=2))
    with tempfile.TemporaryDirectory(prefix="bench-local-") as workdir:
        bundle = brief_debate(Path(workdir))

        note(f"{count} concurrent debates")
        recording = Recording(model)
        tokens, wall = await run_debates(bundle, recording, count, concurrency=count)
        framework = tokens / wall
        chats = recording.speech_chats
        note(f"raw generate over the same {len(chats)} chats, {count} at a time")
        raw = raw_over_batches(model.loaded, chats, count)

        note("4 debates one request at a time")
        seq_tokens, seq_wall = await run_debates(bundle, model, 4, concurrency=1)
        sequential = seq_tokens / seq_wall
        result: dict[str, Any] = {
            "concurrent_debates": count,
            "framework_tokens_per_s": round(framework, 1),
            "raw_generate_tokens_per_s": round(raw, 1),
            "ratio_vs_raw": round(framework / raw, 3),
            "sequential_tokens_per_s": round(sequential, 1),
            "speedup_vs_sequential": round(framework / sequential, 2),
        }
        if importlib.util.find_spec("llama_cpp") is not None:
            note("llama-cpp-python server on the same GGUF")
            result.update(await llamacpp_figures(bundle, framework, count))
    await model.aclose()
    print(json.dumps(result))


async def llamacpp_figures(bundle: Bundle, framework: float, count: int) -> dict[str, float]:
    """Serve the same GGUF with llama-cpp-python's server and run the same debates on it."""
    import socket
    import subprocess

    from debate.models.embedded import gguf_path

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "8192"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    model = create_model("openai/local-gguf", base_url=f"http://127.0.0.1:{port}/v1")
    try:
        for _ in range(120):
            try:
                await model.generate([ChatMessage("user", "Hi")], GenerateConfig(max_tokens=1))
                break
            except Exception:
                await asyncio.sleep(1)
        tokens, wall = await run_debates(bundle, model, count, concurrency=count)
        served = tokens / wall
        return {
            "llamacpp_server_tokens_per_s": round(served, 1),
            "ratio_vs_llamacpp": round(framework / served, 3),
        }
    finally:
        await model.aclose()
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    asyncio.run(main())
