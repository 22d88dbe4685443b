"""The `openai/<model>` backend: any OpenAI-compatible chat-completions server.

Owns the connection (base URL and key from options, else `OPENAI_BASE_URL` /
`OPENAI_API_KEY`), retries (exponential backoff with jitter on 429, 5xx,
timeouts and connection errors, honouring `Retry-After`, within a count and a
time budget; the SDK's own retries are off), a concurrency limit shared by every
model object bound to the same (base URL, model), streaming of text deltas, token
usage, and choice labels' log-probabilities read at the token that produces the label
(`label_reading.py`), with the labels' total probability there (`label_mass`).

With an answer prefix, the assistant turn is prefilled with it where the server is
known to continue a turn (`prefill="auto"`: vLLM and SGLang, recognised once per model
object), so the first generated token is the label; elsewhere the label is found in the
reply after the prefix. `extra_body` adds fields to every request (`openai_request.py`).

Streaming requests go through the SDK (on its aiohttp transport); plain ones through
`openai_http.JsonPoster`, which skips the SDK's per-call machinery but raises the SDK's
exception types, so everything below applies to both.

Optional request features the server rejects with a 400 (`stream_options`,
`logprobs`, `max_tokens` in favour of `max_completion_tokens`, `temperature` /
`top_p`) are turned off for this model object and the request is resent.

The API key goes to the SDK client and is otherwise kept only to redact it from
error messages (some servers echo it): it is never logged, never part of
`repr`, an error message or a cache key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import openai

from debate.errors import DebateInputError
from debate.models.base import (
    ChatMessage,
    Completion,
    DeltaCallback,
    GenerateConfig,
    ModelError,
    Usage,
)
from debate.models.label_reading import TokenPosition, token_positions
from debate.models.openai_http import JsonPoster, KeyHolder, sdk_http_client
from debate.models.openai_parse import get, usage_of
from debate.models.openai_request import (
    PREFILL_SERVERS,
    build_request,
    checked_extra_body,
    completion_from,
    split_for_sdk,
)
from debate.models.openai_retry import (
    BadResponseError,
    RetryStats,
    backoff_delay,
    classify_error,
    error_message,
    httpx,
    parse_retry_after,
    retry_after_from,
    shared_limit,
)
from debate.models.per_loop import PerLoop

__all__ = ["OpenAIModel", "create", "parse_retry_after"]

logger = logging.getLogger(__name__)

PLACEHOLDER_KEY = "sk-no-key-required"
MAX_TOP_LOGPROBS = 20


# --------------------------------------------------------------------------- model


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


class OpenAIModel:
    """Chat completions against one OpenAI-compatible endpoint and model.

    Options: `base_url`, `api_key` (else `OPENAI_BASE_URL` / `OPENAI_API_KEY`; a
    placeholder key when only a base URL is given), `max_retries` (6),
    `retry_budget_s` (120: time spent in attempts and backoff, not in waiting for
    a connection slot), `timeout_s` (60 per attempt), `max_connections` (None: no
    limit; else shared by all models on this base URL and model), backoff
    `backoff_base_s` / `backoff_max_s`, `top_logprobs` (20) for choices, and
    `extra_body`, fields added to every request (they may override ours, except the
    model, the messages and streaming).
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        max_retries: int = 6,
        retry_budget_s: float = 120.0,
        timeout_s: float = 60.0,
        max_connections: int | None = None,
        backoff_base_s: float = 0.25,
        backoff_max_s: float = 20.0,
        top_logprobs: int = MAX_TOP_LOGPROBS,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        if not model:
            raise DebateInputError("--model: 'openai/' needs a model name, e.g. openai/gpt-4o-mini")
        if max_connections is not None and max_connections < 1:
            raise DebateInputError(f"--max-connections: must be at least 1, got {max_connections}")
        self.model = model
        self.name = f"openai/{model}"
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "").rstrip("/") or None
        if self.base_url is not None and not _is_http_url(self.base_url):
            source = "--model-base-url" if base_url else "OPENAI_BASE_URL"
            raise DebateInputError(
                f"{source}: '{self.base_url}': expected an http:// or https:// URL"
            )
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key:
            if self.base_url is None:
                raise DebateInputError(
                    f"--model {self.name}: no API key: set OPENAI_API_KEY, or point "
                    "--model-base-url (or OPENAI_BASE_URL) at a local server"
                )
            key = PLACEHOLDER_KEY
        self._key_getter = KeyHolder(key)
        self.max_retries = max(0, int(max_retries))
        self.retry_budget_s = float(retry_budget_s)
        self.timeout_s = float(timeout_s)
        self.max_connections = max_connections
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.top_logprobs = max(1, min(MAX_TOP_LOGPROBS, int(top_logprobs)))
        self.extra_body = checked_extra_body(self.name, extra_body)
        endpoint = self.base_url or "https://api.openai.com/v1"
        self._limit = (
            shared_limit(endpoint, model, max_connections) if max_connections is not None else None
        )
        self._clients = PerLoop(self._new_client, lambda client: client.close())
        # plain requests skip the SDK's per-call machinery; streaming ones use the SDK
        self._poster = JsonPoster(endpoint, key, max_connections)
        self.supports_logprobs = True
        self.supports_stream_usage = True
        self.max_tokens_field = "max_tokens"
        self.send_sampling = True
        self.supports_prefill = True
        self.server_kind: str | None = None  # `owned_by` of GET /models, once asked
        self._probing = PerLoop(asyncio.Lock, lambda _lock: asyncio.sleep(0))  # ask it once
        self.stats = RetryStats()

    def __repr__(self) -> str:
        return f"OpenAIModel({self.model!r}, base_url={self.base_url!r})"

    # -- client -------------------------------------------------------------------

    def _client(self) -> openai.AsyncOpenAI:
        return self._clients.get()

    def _new_client(self) -> openai.AsyncOpenAI:
        client_options: dict[str, Any] = {"timeout": self.timeout_s}
        if self.max_connections is not None:
            client_options["limits"] = httpx.Limits(
                max_connections=self.max_connections,
                max_keepalive_connections=self.max_connections,
            )
        return openai.AsyncOpenAI(
            api_key=self._key_getter.key,
            base_url=self.base_url,
            max_retries=0,
            timeout=self.timeout_s,
            http_client=sdk_http_client(client_options),
        )

    async def aclose(self) -> None:
        await self._clients.aclose()
        await self._poster.aclose()

    # -- requests -----------------------------------------------------------------

    def _request(
        self, messages: Sequence[ChatMessage], config: GenerateConfig, prefill: str = ""
    ) -> dict[str, Any]:
        return build_request(
            self.model,
            messages,
            config,
            prefill=prefill,
            max_tokens_field=self.max_tokens_field,
            send_sampling=self.send_sampling,
            top_logprobs=self.top_logprobs if self.supports_logprobs else None,
            extra_body=self.extra_body,
        )

    async def _prefill_for(self, config: GenerateConfig, timeout: float) -> str:
        """The answer prefix (or a text reply's opening) to prefill the assistant turn
        with, or "" for none."""
        prefix = config.answer_prefix if config.choices else config.opening
        if not prefix or config.prefill is False:
            return ""
        if not self.supports_prefill:
            return ""
        if config.prefill is True:
            return prefix
        if self.server_kind is None:
            async with self._probing.get():  # concurrent first requests wait for one answer
                if self.server_kind is None:
                    self.server_kind = await self._poster.server_kind(min(timeout, 10.0))
        return prefix if self.server_kind in PREFILL_SERVERS else ""

    async def generate(
        self,
        messages: Sequence[ChatMessage],
        config: GenerateConfig,
        on_delta: DeltaCallback | None = None,
    ) -> Completion:
        self.stats.requests += 1
        spent = 0.0  # seconds in attempts and backoff; waiting for a slot is not counted
        attempt = 0
        while True:
            attempt += 1
            self.stats.attempts += 1
            slot = self._limit.semaphore() if self._limit is not None else contextlib.nullcontext()
            async with slot:
                started = time.monotonic()
                timeout = max(0.001, min(self.timeout_s, self.retry_budget_s - spent))
                try:
                    return await self._once(messages, config, on_delta, timeout)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    error = exc
                finally:
                    spent += time.monotonic() - started
            if self._disable_unsupported(error, config, on_delta):
                attempt -= 1  # a feature probe, not a failure
                continue
            delay = self._next_delay(error, attempt, spent)
            self.stats.note_retry(delay, self._redact(classify_error(error)[1]))
            await asyncio.sleep(delay)
            spent += delay

    def _next_delay(self, error: Exception, attempt: int, spent: float) -> float:
        """Seconds to wait before the next attempt, or raise `ModelError` to give up."""
        retryable, reason = classify_error(error)
        reason = self._redact(reason)
        cause = None if self._key_getter.key in str(error) else error
        if not retryable:
            self.stats.failures += 1
            raise ModelError(f"{self.name}: {reason} (not retried)") from cause
        if attempt > self.max_retries:
            self.stats.failures += 1
            raise ModelError(
                f"{self.name}: gave up after {attempt} attempts "
                f"(max_retries={self.max_retries}): {reason}"
            ) from cause
        delay = backoff_delay(
            attempt, self.backoff_base_s, self.backoff_max_s, retry_after_from(error)
        )
        if spent + delay > self.retry_budget_s:
            self.stats.failures += 1
            raise ModelError(
                f"{self.name}: gave up after {attempt} attempts "
                f"(retry budget {self.retry_budget_s:g}s spent): {reason}"
            ) from cause
        return delay

    def _redact(self, text: str) -> str:
        """Servers may echo the key in error messages (llm-katan does): hide it."""
        key = self._key_getter.key
        return text.replace(key, "***") if key and key != PLACEHOLDER_KEY else text

    def _disable_unsupported(
        self, exc: Exception, config: GenerateConfig, on_delta: DeltaCallback | None
    ) -> bool:
        """Turn off an optional feature the server rejected; True if worth resending."""
        if not isinstance(exc, openai.APIStatusError) or exc.status_code not in (400, 422):
            return False
        message = error_message(exc).lower()
        if on_delta is not None and self.supports_stream_usage and "stream_options" in message:
            self.supports_stream_usage = False
            return True
        if config.choices and self.supports_logprobs and "logprobs" in message:
            self.supports_logprobs = False
            return True
        if self.supports_prefill and (
            "continue_final_message" in message or "add_generation_prompt" in message
        ):
            self.supports_prefill = False
            return True
        if self.max_tokens_field == "max_tokens" and "max_completion_tokens" in message:
            self.max_tokens_field = "max_completion_tokens"  # newer OpenAI models
            return True
        if self.send_sampling and ("temperature" in message or "top_p" in message):
            self.send_sampling = False  # e.g. reasoning models accept only their defaults
            logger.warning("%s: server rejects temperature/top_p; using defaults", self.name)
            return True
        return False

    async def _once(
        self,
        messages: Sequence[ChatMessage],
        config: GenerateConfig,
        on_delta: DeltaCallback | None,
        timeout: float,
    ) -> Completion:
        prefill = await self._prefill_for(config, timeout)
        request = self._request(messages, config, prefill)
        if on_delta is None:
            data = await self._poster.post("/chat/completions", request, timeout)
            choices = get(data, "choices") if isinstance(data, dict) else None
            if not choices:
                error = get(get(data, "error"), "message") if isinstance(data, dict) else None
                raise BadResponseError(str(error or "no choices in the response")[:300])
            choice = choices[0]
            text = get(get(choice, "message"), "content") or ""
            return completion_from(
                self.name,
                str(text),
                token_positions(get(choice, "logprobs")),
                config,
                usage_of(get(data, "usage")),
                prefill=prefill,
                logprobs_sent=self.supports_logprobs,
            )
        client = self._client()
        create: Any = client.chat.completions.create
        request["stream"] = True
        if self.supports_stream_usage:
            request["stream_options"] = {"include_usage": True}
        extra = split_for_sdk(request)
        stream = await create(**request, extra_body=extra or None, timeout=timeout)
        pieces: list[str] = []
        streamed: list[TokenPosition] = []
        usage = Usage()
        async with stream:
            async for chunk in stream:
                if chunk.usage is not None:
                    usage = usage_of(chunk.usage)
                for choice in chunk.choices or []:
                    if choice.index != 0:
                        continue
                    streamed.extend(token_positions(choice.logprobs))
                    piece = choice.delta.content if choice.delta is not None else None
                    if piece:
                        pieces.append(piece)
                        on_delta(piece)
        return completion_from(
            self.name,
            "".join(pieces),
            streamed,
            config,
            usage,
            prefill=prefill,
            logprobs_sent=self.supports_logprobs,
        )


ENV_OPTIONS = {
    "max_retries": ("DEBATE_OPENAI_MAX_RETRIES", int),
    "retry_budget_s": ("DEBATE_OPENAI_RETRY_BUDGET_S", float),
    "timeout_s": ("DEBATE_OPENAI_TIMEOUT_S", float),
}
KNOWN_OPTIONS = frozenset(
    {
        "base_url",
        "api_key",
        "max_connections",
        "backoff_base_s",
        "backoff_max_s",
        "top_logprobs",
        "extra_body",
    }
    | set(ENV_OPTIONS)
)


def create(rest: str, **options: Any) -> OpenAIModel:
    """Registry factory for `openai/<model>`.

    Unset (None) options fall back to the environment (`DEBATE_OPENAI_MAX_RETRIES`,
    `DEBATE_OPENAI_RETRY_BUDGET_S`, `DEBATE_OPENAI_TIMEOUT_S`), then to defaults.
    """
    unknown = sorted(set(options) - KNOWN_OPTIONS)
    if unknown:
        raise DebateInputError(
            f"--model openai/{rest}: unknown option(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(KNOWN_OPTIONS))})"
        )
    chosen = {key: value for key, value in options.items() if value is not None}
    for key, (variable, kind) in ENV_OPTIONS.items():
        raw = os.environ.get(variable)
        if key in chosen or raw is None or not raw.strip():
            continue
        try:
            chosen[key] = kind(raw)
        except ValueError:
            raise DebateInputError(
                f"{variable}: expected {'an integer' if kind is int else 'a number'}, got {raw!r}"
            ) from None
    return OpenAIModel(rest, **chosen)
