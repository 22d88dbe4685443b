"""Retry policy and shared limits for the `openai/<model>` backend.

Owns which failures are worth retrying (429, 5xx, 408/409/425, timeouts,
connection errors) and their one-line reasons, `Retry-After` parsing (seconds,
`retry-after-ms`, or an HTTP date), the backoff schedule (exponential with
jitter, never shorter than `Retry-After`), the per-(base URL, model)
concurrency limit shared by every role bound to one backend, and retry counters.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time
import weakref
from dataclasses import dataclass, field

import openai

try:  # openai>=3 ships on httpx2; older releases on httpx
    import httpx2 as httpx  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - depends on the installed SDK
    import httpx  # type: ignore[import-not-found,no-redef,unused-ignore]

RETRYABLE_STATUS = frozenset({408, 409, 425, 429}) | frozenset(range(500, 600))


class BadResponseError(Exception):
    """A 200 response without a usable completion (some proxies put errors there)."""


# --------------------------------------------------------------------------- limits


class _SharedLimit:
    """A concurrency limit shared by all models on one (base URL, model).

    asyncio primitives belong to one event loop, so a semaphore is made lazily
    for each running loop.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._semaphores = weakref.WeakKeyDictionary()

    def semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        sem = self._semaphores.get(loop)
        if sem is None:
            sem = self._semaphores[loop] = asyncio.Semaphore(self.limit)
        return sem


_LIMITS: dict[tuple[str, str], _SharedLimit] = {}


def shared_limit(base_url: str, model: str, limit: int) -> _SharedLimit:
    """The process-wide limit for (base_url, model).

    Every model created with the same limit shares it (all roles of a run get the
    same `--max-connections`). Asking for a different limit starts a new shared
    limit for later models, e.g. a second run in the same process; models made
    earlier keep the one they have.
    """
    key = (base_url.rstrip("/"), model)
    existing = _LIMITS.get(key)
    if existing is None or existing.limit != limit:
        existing = _LIMITS[key] = _SharedLimit(limit)
    return existing


# --------------------------------------------------------------------------- helpers


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value: delta-seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def retry_after_from(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    return parse_retry_after(headers.get("retry-after"))


def classify_error(exc: BaseException) -> tuple[bool, str]:
    """(retryable, reason) for an exception raised by one request."""
    if isinstance(exc, BadResponseError):
        return True, f"bad response: {exc}"
    if isinstance(exc, openai.APITimeoutError):
        refused = _refused_connection(exc)
        if refused is not None:  # the aiohttp transport reports a refused connect so
            return True, f"connection error: {type(refused).__name__}: {refused}"
        return True, "request timed out"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f": {type(cause).__name__}: {cause}" if cause else ""
        return True, f"connection error{detail}"
    if isinstance(exc, openai.APIStatusError):
        message = error_message(exc)
        return exc.status_code in RETRYABLE_STATUS, f"HTTP {exc.status_code}: {message}"
    if isinstance(exc, httpx.TimeoutException):
        return True, "request timed out"
    if isinstance(exc, httpx.TransportError):
        return True, f"connection error: {type(exc).__name__}: {exc}"
    return False, f"{type(exc).__name__}: {exc}"


def _refused_connection(exc: BaseException) -> BaseException | None:
    """The connect failure (refused, unreachable) under an exception, if there is one."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ConnectionError) or type(cause).__name__ == "ClientConnectorError":
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def error_message(exc: openai.APIStatusError) -> str:
    return body_message(exc.body) or str(exc.message)


def body_message(body: object) -> str | None:
    """The message of an OpenAI-style error body (`{"error": {"message": ...}}`), if any."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return None


def backoff_delay(
    attempt: int, base_s: float, max_s: float, retry_after: float | None = None
) -> float:
    """Exponential backoff with equal jitter, never shorter than `retry_after`."""
    ceiling = min(max_s, base_s * 2 ** (attempt - 1))
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


@dataclass
class RetryStats:
    """What the retry loop did, for tests and run summaries."""

    requests: int = 0
    attempts: int = 0
    retries: int = 0
    failures: int = 0
    sleeps: list[float] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def note_retry(self, delay: float, reason: str) -> None:
        self.retries += 1
        if len(self.sleeps) < 1000:
            self.sleeps.append(delay)
            self.reasons.append(reason)
