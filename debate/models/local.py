"""transformers backends: `local` (the embedded SmolLM2-135M-Instruct) and `hf/<path>`.

`create("")` serves the embedded model from its cached HF checkpoint (see
`embedded.py`); `create("<path>")` serves any causal-LM checkpoint on disk. Weights
are loaded once per process per (path, device, dtype), and `LocalModel` instances
are shared per set of options, so every role bound to `local` shares one model and
one micro-batcher.

Concurrent `generate` calls are merged (`batching.MicroBatcher`): each batch runs
in a worker thread, first one forward pass for the requests that ask for choice
log-probabilities, then one left-padded `model.generate` for all requests. A choice
request's assistant turn is prefilled with its answer prefix (e.g. `Answer:`), so the
labels are read at the very token where the reply produces the label, with their total
probability there (`label_mass`); the reply then continues from the same prompt.
A text request with an `opening` is prefilled with it the same way, and continues it.
Rows with different sampling settings share that call: each row samples with its
own temperature, top-p and seeded generator (`batching.RowSampler`), which keeps
a seeded request reproducible whatever else is in its batch. Each row keeps its
own `max_tokens` and stop strings, streams deltas, and is answered as soon as it
is finished.

Numerics: rows are left-padded with an attention mask and matching position ids,
so greedy output in a batch equals greedy output alone up to floating-point noise
from the different matrix shapes (fp32 on CPU; bf16 on CUDA is noisier). A near
tie between two tokens can in principle flip under that noise.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub

import torch  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LogitsProcessorList,
    StoppingCriteriaList,
)

from debate.errors import DebateInputError  # noqa: E402
from debate.models.base import (  # noqa: E402
    ChatMessage,
    Completion,
    DeltaCallback,
    GenerateConfig,
    ModelError,
    with_defaults,
)
from debate.models.batching import (  # noqa: E402
    MicroBatcher,
    Request,
    Row,
    RowCopyBlock,
    RowPenalties,
    RowSampler,
    RowTracker,
    copy_table,
    penalised,
)
from debate.models.embedded import CHATML_TEMPLATE, embedded_checkpoint_dir  # noqa: E402

__all__ = ["BatchStats", "LocalModel", "create", "embedded_checkpoint_dir"]


@dataclass
class BatchStats:
    """Counters a `LocalModel` keeps about the batches it ran."""

    batches: int = 0  # batcher rounds (each serves one or more requests)
    requests: int = 0
    generate_calls: int = 0  # `model.generate` calls
    forward_calls: int = 0  # forward passes for choice log-probabilities
    largest_batch: int = 0


def _device(option: str | None) -> torch.device:
    if option in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(str(option))


def _dtype(option: str | None, device: torch.device) -> torch.dtype:
    if option in (None, "", "auto"):
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    dtype = getattr(torch, str(option), None)
    if not isinstance(dtype, torch.dtype):
        raise DebateInputError(f"--model: unknown dtype '{option}' (try float32 or bfloat16)")
    return dtype


class LoadedModel:
    """Weights and tokenizer of one checkpoint, and the lock serialising their use."""

    def __init__(self, path: Path, device: torch.device, dtype: torch.dtype) -> None:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        try:
            self.tokenizer: Any = AutoTokenizer.from_pretrained(path, local_files_only=True)
            model: Any = AutoModelForCausalLM.from_pretrained(
                path, dtype=dtype, local_files_only=True
            )
        except (OSError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DebateInputError(
                f"--model: cannot load a causal LM from {path}: {first}"
            ) from exc
        self.model: Any = model.to(device).eval()
        self.device = device
        if not self.tokenizer.chat_template:
            self.tokenizer.chat_template = CHATML_TEMPLATE
        eos: set[int] = set()
        for source in (self.model.generation_config.eos_token_id, self.tokenizer.eos_token_id):
            if isinstance(source, int):
                eos.add(source)
            elif source:
                eos.update(int(token) for token in source)
        self.eos_ids = eos
        pad = self.tokenizer.pad_token_id
        self.pad_id: int = int(pad if pad is not None else min(eos) if eos else 0)
        self.lock = threading.Lock()
        self.keeps_logits = "logits_to_keep" in inspect.signature(self.model.forward).parameters
        self._labels: dict[str, list[list[int]]] = {}

    def prompt_ids(self, messages: Sequence[ChatMessage], prefill: str = "") -> list[int]:
        """The chat's tokens, ending in an open assistant turn that starts with `prefill`."""
        chat = [{"role": message.role, "content": message.content} for message in messages]
        text = self.tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        ids: list[int] = self.tokenizer.encode(text + prefill, add_special_tokens=False)
        return ids

    def system_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """How many prompt tokens the leading system message takes (0 without one)."""
        if not messages or messages[0].role != "system":
            return 0
        chat = [{"role": "system", "content": messages[0].content}]
        text = self.tokenizer.apply_chat_template(chat, add_generation_prompt=False, tokenize=False)
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def pad(self, sequences: Sequence[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-pad to one tensor; return (input_ids, attention_mask) on the model's device."""
        width = max(len(sequence) for sequence in sequences)
        ids = torch.full((len(sequences), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for i, sequence in enumerate(sequences):
            if sequence:
                ids[i, width - len(sequence) :] = torch.tensor(sequence, dtype=torch.long)
                mask[i, width - len(sequence) :] = 1
        return ids.to(self.device), mask.to(self.device)

    def label_variants(self, label: str) -> list[list[int]]:
        """Token ids of a choice label, without and with a leading space."""
        if label not in self._labels:
            variants: list[list[int]] = []
            for text in (label, " " + label):
                ids = self.tokenizer.encode(text, add_special_tokens=False)
                if ids and ids not in variants:
                    variants.append(ids)
            if not variants:
                raise ModelError(f"choice label {label!r} encodes to no tokens")
            self._labels[label] = variants
        return self._labels[label]

    def run_batch(
        self, requests: list[Request], name: str, stats: BatchStats, max_rows: int
    ) -> None:
        """Serve one batch of requests (runs in a worker thread)."""
        with self.lock, torch.inference_mode():
            stats.batches += 1
            stats.requests += len(requests)
            stats.largest_batch = max(stats.largest_batch, len(requests))
            text_rows: list[Row] = []
            choice_rows: list[Row] = []
            for request in requests:
                choices = request.config.choices
                config = request.config
                if choices:
                    prefill = config.answer_prefix or ""
                else:
                    prefill = config.opening if config.prefill is not False else ""
                try:
                    ids = self.prompt_ids(request.messages, prefill)
                except Exception as exc:  # a bad template or message fails only its request
                    request.fail(ModelError(f"{name}: cannot build the prompt: {exc}"))
                    continue
                row = Row(request, ids, max_new=request.config.max_tokens, prefill=prefill)
                if request.config.no_copy_ngram_size:
                    system = self.system_tokens(request.messages)
                    row.blocked = copy_table(
                        ids[system:], ids[:system], request.config.no_copy_ngram_size
                    )
                (choice_rows if choices else text_rows).append(row)
            for start in range(0, len(choice_rows), max_rows):
                chunk = choice_rows[start : start + max_rows]
                stats.forward_calls += 1
                text_rows.extend(self._choices(chunk, name))
            for start in range(0, len(text_rows), max_rows):
                chunk = text_rows[start : start + max_rows]
                self._generate(chunk, name, stats)

    def _choices(self, rows: list[Row], name: str) -> list[Row]:
        """One forward pass: read each row's label distribution at its next token.

        The prompt already ends with the answer prefix (a prefilled assistant turn), so
        the next token is where the label is produced. Its distribution over the labels'
        first tokens (each label with and without a leading space, combined) gives the
        renormalised log-probabilities and the labels' total mass before renormalising.
        The rows then continue as ordinary text rows from the same prompt, so the reply
        text is what the model says there, label or not.
        """
        ids, mask = self.pad([row.prompt_ids for row in rows])
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        extra = {"logits_to_keep": 1} if self.keeps_logits else {}  # skip full-sequence logits
        output = self.model(
            input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False, **extra
        )
        logprobs = torch.log_softmax(output.logits[:, -1].float(), dim=-1).cpu()
        for row, scores in zip(rows, logprobs, strict=True):
            labels = row.request.config.choices or ()
            raw: dict[str, float] = {}
            for label in labels:
                firsts = sorted({variant[0] for variant in self.label_variants(label)})
                raw[label] = float(torch.logsumexp(scores[firsts], dim=0))
            # labels sharing a first token would count it twice
            unique = sorted({v[0] for label in labels for v in self.label_variants(label)})
            row.label_mass = min(1.0, float(torch.logsumexp(scores[unique], dim=0).exp()))
            top = max(raw.values())
            norm = top + math.log(sum(math.exp(value - top) for value in raw.values()))
            row.choice_logprobs = {label: value - norm for label, value in raw.items()}
        return rows

    def _generate(self, rows: list[Row], name: str, stats: BatchStats) -> None:
        tracker = RowTracker(rows, self.tokenizer, self.eos_ids, name)
        live = [row for row in rows if not row.done]
        if not live:
            return
        ids, mask = self.pad([row.prompt_ids for row in rows])
        configs = [row.request.config for row in rows]
        processors = LogitsProcessorList()
        if any(penalised(config) for config in configs):  # before sampling reads the scores
            processors.append(RowPenalties(configs, ids.shape[1], self.device))
        if any(row.blocked for row in rows):
            processors.append(RowCopyBlock(rows))
        if any(config.temperature > 0 for config in configs):
            processors.append(RowSampler(configs, self.device))
        generation = GenerationConfig(
            max_new_tokens=max(row.max_new for row in live),
            do_sample=False,
            num_beams=1,
            eos_token_id=sorted(self.eos_ids) or None,
            pad_token_id=self.pad_id,
        )
        stats.generate_calls += 1
        try:
            self.model.generate(
                input_ids=ids,
                attention_mask=mask,
                generation_config=generation,
                logits_processor=processors,
                stopping_criteria=StoppingCriteriaList([tracker]),
            )
        except Exception as exc:  # fail this chunk's unanswered rows, keep the batcher alive
            error = ModelError(f"{name}: generate failed: {exc!r}")
            for row in rows:
                if not row.done:
                    row.done = True
                    row.request.fail(error)
            return
        for row in rows:  # rows generate ended without the tracker seeing their end
            tracker.finish(row)


_LOADED: dict[tuple[str, str, str], LoadedModel] = {}
_INSTANCES: dict[tuple[str, str, str, str, float, int], LocalModel] = {}
_REGISTRY_LOCK = threading.Lock()


# The embedded model's repetition controls for requests that set none, chosen by
# benchmarks/embedded_quality.py (README, "Models"): SmolLM2-135M loops and copies its
# context without them. `hf/` checkpoints get no defaults.
EMBEDDED_DEFAULTS: dict[str, Any] = {"repetition_penalty": 1.3}


class LocalModel:
    """A transformers model behind the `Model` protocol, with a micro-batcher.
    `generation_defaults` fill the repetition controls a request leaves unset."""

    def __init__(
        self, name: str, loaded: LoadedModel, batch_window_ms: float, max_batch_size: int
    ) -> None:
        self.name = name
        self.generation_defaults: dict[str, Any] = (
            dict(EMBEDDED_DEFAULTS) if name == "local" else {}
        )
        # the embedded model's verdicts lean to the first-listed answer, so judges with
        # `calibrate: auto` also read it with the answers reversed (core.calibration)
        self.calibrate_verdicts = name == "local"
        self.loaded = loaded
        self.batch_window_ms = batch_window_ms
        self.max_batch_size = max_batch_size
        self.stats = BatchStats()
        self._batcher: MicroBatcher | None = None

    @property
    def checkpoint(self) -> Path:
        return Path(self.loaded.model.name_or_path)

    def _run_batch(self, requests: list[Request]) -> None:
        self.loaded.run_batch(requests, self.name, self.stats, self.max_batch_size)

    def _batcher_for(self, loop: asyncio.AbstractEventLoop) -> MicroBatcher:
        batcher = self._batcher
        if batcher is None or batcher.loop is not loop or batcher.closed:
            batcher = MicroBatcher(
                self._run_batch, self.batch_window_ms / 1000.0, self.max_batch_size
            )
            self._batcher = batcher
        return batcher

    async def generate(
        self,
        messages: Sequence[ChatMessage],
        config: GenerateConfig,
        on_delta: DeltaCallback | None = None,
    ) -> Completion:
        if config.choices is not None and not all(config.choices):
            raise ModelError(f"{self.name}: choice labels must be non-empty: {config.choices}")
        config = with_defaults(config, self.generation_defaults)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Completion] = loop.create_future()
        self._batcher_for(loop).submit(Request(messages, config, on_delta, loop, future))
        return await future

    async def aclose(self) -> None:
        """Stop the batcher; a later `generate` starts a new one."""
        batcher, self._batcher = self._batcher, None
        if batcher is not None and batcher.loop is asyncio.get_running_loop():
            await batcher.aclose()


def _checkpoint(rest: str) -> tuple[Path, str]:
    if not rest:
        return embedded_checkpoint_dir().resolve(), "local"
    path = Path(rest).expanduser()
    if not (path / "config.json").is_file():
        raise DebateInputError(
            f"--model hf/{rest}: no transformers checkpoint there (expected {path}/config.json)"
        )
    return path.resolve(), f"hf/{rest}"


def create(rest: str = "", **options: Any) -> LocalModel:
    """Build (or reuse) the model for `local` (rest == "") or `hf/<path>` (rest = path).

    Options: `device` ("auto", "cpu", "cuda", "cuda:1"), `dtype` ("auto", "float32",
    "bfloat16"), `batch_window_ms` (default 5), `max_batch_size` (default 64).
    Other options (meant for other backends) are ignored.
    """
    path, name = _checkpoint(rest)
    device = _device(options.get("device"))
    dtype = _dtype(options.get("dtype"), device)
    window = float(options.get("batch_window_ms", 5.0))
    max_batch = int(options.get("max_batch_size", 64))
    if window < 0 or max_batch < 1:
        raise DebateInputError("--model: batch_window_ms must be >= 0 and max_batch_size >= 1")
    load_key = (str(path), str(device), str(dtype))
    key = (name, *load_key, window, max_batch)
    with _REGISTRY_LOCK:
        instance = _INSTANCES.get(key)
        if instance is None:
            loaded = _LOADED.get(load_key)
            if loaded is None:
                loaded = _LOADED[load_key] = LoadedModel(path, device, dtype)
            instance = _INSTANCES[key] = LocalModel(name, loaded, window, max_batch)
        return instance
