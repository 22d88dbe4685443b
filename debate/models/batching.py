"""Micro-batching machinery for the transformers backends (`local.py`).

- `MicroBatcher` lives on the event loop. It collects concurrent requests for a
  short window and hands each batch to a worker thread, so the loop keeps running
  while the model computes.
- `RowTracker` is the per-step hook inside one batched `generate`. For every row
  it decodes new tokens incrementally, applies the row's stop strings and its own
  token budget, streams text deltas to the row's `on_delta` on the loop thread, and
  resolves the row's future as soon as the row is finished (not when the whole
  batch is). It is a `StoppingCriteria`, so `generate` ends once every row is done.
- `RowPenalties` applies each row's repetition controls (repetition, frequency and
  presence penalties, no-repeat n-grams) to the tokens the row has generated so far,
  never to its prompt, so rows with different controls share one `generate` call.
- `RowCopyBlock` keeps rows with `no_copy_ngram_size` from copying their earlier turns.
- `RowSampler` samples each row with its own temperature, top-p and seeded
  `torch.Generator`. A sampled request is therefore reproducible for a fixed seed
  whatever else shares its batch (up to the numerical noise of padding), and rows
  with different sampling settings share one `generate` call.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import LogitsProcessor, StoppingCriteria

from debate.models.base import (
    ChatMessage,
    Completion,
    DeltaCallback,
    GenerateConfig,
    ModelError,
    Usage,
)


@dataclass(eq=False)
class Request:
    """One pending `generate` call, owned by the event loop that made it."""

    messages: Sequence[ChatMessage]
    config: GenerateConfig
    on_delta: DeltaCallback | None
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Completion]

    def deliver(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run `callback(*args)` on the request's loop (safe from any thread)."""
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting
            self.loop.call_soon_threadsafe(callback, *args)

    def resolve(self, completion: Completion) -> None:
        self.deliver(_set_result, self.future, completion)

    def fail(self, exc: BaseException) -> None:
        self.deliver(_set_exception, self.future, exc)


def _set_result(future: asyncio.Future[Completion], completion: Completion) -> None:
    if not future.done():
        future.set_result(completion)


def _set_exception(future: asyncio.Future[Completion], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


@dataclass(eq=False)
class Row:
    """One sequence of a batched `generate`: a request's prompt and decoding state."""

    request: Request
    prompt_ids: list[int]
    max_new: int
    text: str = ""  # decoded reply so far (after `prefill`)
    choice_logprobs: dict[str, float] | None = None
    label_mass: float | None = None
    prefill: str = ""  # assistant text the prompt already ends with (an answer prefix)
    tokens: list[int] = field(default_factory=list)
    emitted: int = 0  # characters of `text` already passed to on_delta
    prefix_offset: int = 0
    read_offset: int = 0
    generated: int = 0
    done: bool = False
    blocked: dict[tuple[int, ...], set[int]] | None = None  # no_copy_ngram_size table

    @property
    def prompt_tokens(self) -> int:
        return len(self.prompt_ids)


class RowTracker(StoppingCriteria):
    """Per-row decoding, stop strings, token budgets, streaming and early resolution."""

    def __init__(self, rows: list[Row], tokenizer: Any, eos_ids: set[int], model_name: str):
        self.rows = rows
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids
        self.model_name = model_name
        for row in rows:
            if row.max_new <= 0:
                self.finish(row)

    def _decode(self, tokens: list[int]) -> str:
        text: str = self.tokenizer.decode(tokens, skip_special_tokens=True)
        return text

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        new_tokens = input_ids[:, -1].tolist()
        for row, token in zip(self.rows, new_tokens, strict=True):
            if not row.done:
                self.advance(row, int(token))
        done = torch.tensor([row.done for row in self.rows], device=input_ids.device)
        return done  # type: ignore[return-value]

    def advance(self, row: Row, token: int) -> None:
        if row.request.future.cancelled():  # the caller gave up: stop spending on the row
            row.done = True
            return
        row.generated += 1
        if token in self.eos_ids:
            self.finish(row)
            return
        row.tokens.append(token)
        before = self._decode(row.tokens[row.prefix_offset : row.read_offset])
        after = self._decode(row.tokens[row.prefix_offset :])
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self._append(row, after[len(before) :])
            row.prefix_offset, row.read_offset = row.read_offset, len(row.tokens)
        if not row.done and row.generated >= row.max_new:
            self.finish(row)
        elif not row.done:
            self._emit(row, final=False)

    def _append(self, row: Row, piece: str) -> None:
        stops = row.request.config.stop
        start = len(row.text)
        row.text += piece
        if not stops:
            return
        longest = max(len(stop) for stop in stops)
        window_start = max(0, start - longest + 1)
        hits = [i for stop in stops if stop and (i := row.text.find(stop, window_start)) >= 0]
        if hits:
            row.text = row.text[: min(hits)]
            self.finish(row, flush_tokens=False)

    def _emit(self, row: Row, final: bool) -> None:
        end = len(row.text)
        if not final:  # hold back a tail that may be the start of a stop string
            for stop in row.request.config.stop:
                for size in range(min(len(stop) - 1, len(row.text)), 0, -1):
                    if row.text.endswith(stop[:size]):
                        end = min(end, len(row.text) - size)
                        break
        if end > row.emitted:
            piece = row.text[row.emitted : end]
            row.emitted = end
            if row.request.on_delta is not None:
                row.request.deliver(row.request.on_delta, piece)

    def finish(self, row: Row, flush_tokens: bool = True) -> None:
        """Mark a row done, stream what is left and resolve its request."""
        if row.done:
            return
        if flush_tokens and row.read_offset < len(row.tokens):  # an incomplete character
            before = self._decode(row.tokens[row.prefix_offset : row.read_offset])
            after = self._decode(row.tokens[row.prefix_offset :])
            row.read_offset = len(row.tokens)
            self._append(row, after[len(before) :])
            if row.done:  # a stop string completed in the flushed text
                return
        row.done = True
        self._emit(row, final=True)
        row.request.resolve(
            Completion(
                text=row.text,
                model=self.model_name,
                choice_logprobs=row.choice_logprobs,
                label_mass=row.label_mass,
                label_position=0 if row.choice_logprobs is not None else None,
                prefill=row.prefill,
                usage=Usage(
                    prompt_tokens=row.prompt_tokens,
                    completion_tokens=row.generated,
                ),
            )
        )


def penalised(config: GenerateConfig) -> bool:
    return bool(
        (config.repetition_penalty not in (None, 1.0))
        or config.frequency_penalty
        or config.presence_penalty
        or config.no_repeat_ngram_size
    )


class RowPenalties(LogitsProcessor):
    """Each row's repetition controls, over the tokens it generated (columns from `start`,
    the padded prompt width, on); rows without controls are left untouched."""

    def __init__(self, configs: Sequence[GenerateConfig], start: int, device: torch.device):
        self.start = start
        self.rows = [i for i, config in enumerate(configs) if penalised(config)]
        picked = [configs[i] for i in self.rows]
        self.index = torch.tensor(self.rows, dtype=torch.long, device=device)
        self.repetition = torch.tensor(
            [[c.repetition_penalty or 1.0] for c in picked], device=device
        )
        self.frequency = torch.tensor([[c.frequency_penalty or 0.0] for c in picked], device=device)
        self.presence = torch.tensor([[c.presence_penalty or 0.0] for c in picked], device=device)
        self.uses_repetition = any((c.repetition_penalty or 1.0) != 1.0 for c in picked)
        self.uses_counts = any(c.frequency_penalty or c.presence_penalty for c in picked)
        self.ngrams = [
            (j, c.no_repeat_ngram_size) for j, c in enumerate(picked) if c.no_repeat_ngram_size
        ]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if not self.rows or input_ids.shape[1] <= self.start:
            return scores
        generated = input_ids[self.index, self.start :]
        rows = scores[self.index]
        if self.uses_repetition:  # as transformers does, but on generated tokens only
            seen = rows.gather(1, generated)
            seen = torch.where(seen < 0, seen * self.repetition, seen / self.repetition)
            rows.scatter_(1, generated, seen)
        if self.uses_counts:
            ones = torch.ones_like(generated, dtype=rows.dtype)
            counts = torch.zeros_like(rows).scatter_add_(1, generated, ones)
            rows -= self.frequency * counts + self.presence * (counts > 0).to(rows.dtype)
        for j, size in self.ngrams:
            tokens = generated[j].tolist()
            if len(tokens) < size:
                continue
            prefix = tokens[len(tokens) - size + 1 :]
            banned = [
                tokens[i + size - 1]
                for i in range(len(tokens) - size + 1)
                if tokens[i : i + size - 1] == prefix
            ]
            if banned:
                rows[j, banned] = float("-inf")
        scores[self.index] = rows
        return scores


def _generator(seed: int | None, device: torch.device) -> torch.Generator:
    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else random.getrandbits(63))
    return generator


def copy_table(
    conversation: Sequence[int], exempt: Sequence[int], size: int
) -> dict[tuple[int, ...], set[int]]:
    """(n-1)-token prefix -> the tokens that would complete an n-gram of `conversation`,
    leaving out n-grams that also occur in `exempt` (the system prompt)."""
    allowed = {tuple(exempt[i : i + size]) for i in range(len(exempt) - size + 1)}
    table: dict[tuple[int, ...], set[int]] = {}
    for i in range(len(conversation) - size + 1):
        gram = tuple(conversation[i : i + size])
        if gram not in allowed:
            table.setdefault(gram[:-1], set()).add(gram[-1])
    return table


class RowCopyBlock(LogitsProcessor):
    """Rows with a `no_copy_ngram_size` may not complete an n-gram of their earlier turns."""

    def __init__(self, rows: Sequence[Row]):
        self.rows = [
            (i, row.blocked, int(row.request.config.no_copy_ngram_size or 0))
            for i, row in enumerate(rows)
            if row.blocked
        ]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for i, table, size in self.rows:
            banned = table.get(tuple(input_ids[i, input_ids.shape[1] - size + 1 :].tolist()))
            if banned:
                scores[i, list(banned)] = float("-inf")
        return scores


class RowSampler(LogitsProcessor):
    """Sample each row with its own settings and generator; greedy rows keep argmax.

    Used with `do_sample=False`: for a sampled row it returns scores that are -inf
    everywhere except the sampled token, so `generate`'s argmax picks that token.
    Sampling is by inverse CDF with one uniform draw per row and step from the row's
    own generator, so a row's draws do not depend on its neighbours.
    """

    NUCLEUS_TOP_K = 512  # top-p looks here first; a full sort only if this holds < top_p

    def __init__(self, configs: Sequence[GenerateConfig], device: torch.device):
        self.sampled = [i for i, config in enumerate(configs) if config.temperature > 0]
        self.index = torch.tensor(self.sampled, dtype=torch.long, device=device)
        self.temperature = torch.tensor(
            [[configs[i].temperature] for i in self.sampled], device=device
        )
        nucleus = [j for j, i in enumerate(self.sampled) if configs[i].top_p < 1.0]
        self.nucleus = torch.tensor(nucleus, dtype=torch.long, device=device)
        self.top_p = torch.tensor([[configs[i].top_p] for i in self.sampled], device=device)
        self.generators = [_generator(configs[i].seed, device) for i in self.sampled]

    def _nucleus(self, probs: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
        """Zero all but each row's top-p nucleus (rows of `probs` sum to 1)."""
        values, order = probs.topk(min(self.NUCLEUS_TOP_K, probs.shape[-1]), dim=-1)
        if bool((values.sum(dim=-1, keepdim=True) < top_p).any()):
            values, order = torch.sort(probs, dim=-1, descending=True)  # rare: a flat row
        cumulative = values.cumsum(dim=-1)
        values[(cumulative - values) > top_p] = 0.0
        return torch.zeros_like(probs).scatter(-1, order, values)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if not self.sampled:
            return scores
        probs = torch.softmax(scores[self.index].float() / self.temperature, dim=-1)
        if len(self.nucleus):
            probs[self.nucleus] = self._nucleus(probs[self.nucleus], self.top_p[self.nucleus])
        cumulative = probs.cumsum(dim=-1)
        draws = torch.cat([torch.rand(1, generator=g, device=g.device) for g in self.generators])
        targets = draws.to(scores.device)[:, None] * cumulative[:, -1:]
        chosen = torch.searchsorted(cumulative, targets, right=True).clamp(max=scores.shape[-1] - 1)
        scores.index_fill_(0, self.index, float("-inf"))  # in place: nothing else reads them
        scores[self.index, chosen[:, 0]] = 0.0
        return scores


class MicroBatcher:
    """Collect concurrent requests on one event loop and run them in batches off-loop."""

    def __init__(
        self,
        run_batch: Callable[[list[Request]], None],
        window_s: float,
        max_batch_size: int,
    ) -> None:
        self.run_batch = run_batch
        self.window_s = window_s
        self.max_batch_size = max(1, max_batch_size)
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Request] = asyncio.Queue()
        self.closed = False
        self.task = self.loop.create_task(self._serve())

    def submit(self, request: Request) -> None:
        if self.closed:
            raise ModelError("the local model's batcher is closed")
        self.queue.put_nowait(request)

    async def _serve(self) -> None:
        while True:
            batch = [await self.queue.get()]
            if self.queue.qsize() < self.max_batch_size - 1 and self.window_s > 0:
                await asyncio.sleep(self.window_s)  # let concurrent callers join
            while len(batch) < self.max_batch_size and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                await asyncio.to_thread(self.run_batch, batch)
            except Exception as exc:  # a failed batch fails its requests, not the batcher
                error = exc if isinstance(exc, ModelError) else ModelError(f"local model: {exc!r}")
                for request in batch:
                    _set_exception(request.future, error)

    async def aclose(self) -> None:
        self.closed = True
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        while not self.queue.empty():
            _set_exception(self.queue.get_nowait().future, ModelError("local model closed"))
