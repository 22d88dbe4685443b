"""On-disk completion cache that wraps any backend (`--cache`).

`CachedModel(inner, cache_dir)` answers a request from disk when the same
request was answered before. The key is the sha256 of a canonical JSON of the
model id (`inner.name`), the messages and every field of `GenerateConfig`
(sampling settings, seed, stop, choices, epoch). Transport settings and secrets
(base URL, API key, timeouts, retries) live on the backend, not in the request,
so they can never reach the key or the stored value.

Values are `Completion` JSON files in `cache_dir/<key[:2]>/<key>.json`, written
atomically (temp file + rename). A hit returns `cached=True` with the original
usage; the counters `hits`, `misses` and `hit_usage` feed the run summary. A
file that does not parse counts as a miss and is overwritten. Concurrent
identical requests in one process share one backend call (single flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

from debate.models.base import (
    GENERATION_CONTROLS,
    ChatMessage,
    Completion,
    DeltaCallback,
    GenerateConfig,
    Model,
    Usage,
    with_defaults,
)

KEY_VERSION = 1
logger = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """`$DEBATE_CACHE_DIR/calls`, or `~/.cache/debate-lab/calls` by default."""
    root = os.environ.get("DEBATE_CACHE_DIR")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "debate-lab"
    return base / "calls"


def cache_key(model: str, messages: Sequence[ChatMessage], config: GenerateConfig) -> str:
    """The hex sha256 that identifies a request across runs and processes."""
    settings = asdict(config)  # tuples serialise as lists, as in every earlier version
    # fields added later stay out of the key while unset, so earlier entries still match
    unset = {name: None for name in GENERATION_CONTROLS} | {
        "answer_prefix": None,
        "prefill": "auto",
        "opening": "",
    }
    for name, value in unset.items():
        if name in settings and settings[name] == value:
            del settings[name]
    payload = {
        "v": KEY_VERSION,
        "model": model,
        "messages": [[m.role, m.content] for m in messages],
        "config": settings,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


class CompletionCache:
    """Completions stored as sharded JSON files under one directory."""

    def __init__(self, cache_dir: Path) -> None:
        self.dir = Path(cache_dir)

    def path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> Completion | None:
        """The stored completion, or None when absent or unreadable (a miss)."""
        try:
            data = self.path(key).read_bytes()
        except OSError:
            return None
        try:
            return Completion.from_json(data)
        except ValueError:
            return None

    def put(self, key: str, completion: Completion) -> None:
        """Write atomically: a reader sees the old file, the new one, or none."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        stored = replace(completion, cached=False)
        fd, tmp = tempfile.mkstemp(prefix=f".{key[:8]}-", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(stored.to_json())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


class CachedModel:
    """A `Model` that consults a `CompletionCache` before its inner backend."""

    def __init__(self, inner: Model, cache_dir: Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.cache = CompletionCache(cache_dir)
        self.hits = 0
        self.misses = 0
        self.hit_usage = Usage()  # tokens the hits would have cost
        self.write_errors = 0
        self._inflight: dict[str, asyncio.Future[Completion]] = {}

    def __repr__(self) -> str:
        return f"CachedModel({self.inner!r}, {str(self.cache.dir)!r})"

    @property
    def calibrate_verdicts(self) -> bool:  # the backend's wish (see core.calibration)
        return bool(getattr(self.inner, "calibrate_verdicts", False))

    def _hit(self, completion: Completion, on_delta: DeltaCallback | None) -> Completion:
        self.hits += 1
        self.hit_usage = self.hit_usage + completion.usage
        if on_delta is not None and completion.text:
            on_delta(completion.text)
        return replace(completion, cached=True)

    async def generate(
        self,
        messages: Sequence[ChatMessage],
        config: GenerateConfig,
        on_delta: DeltaCallback | None = None,
    ) -> Completion:
        # the backend's own defaults are part of what is asked for
        config = with_defaults(config, getattr(self.inner, "generation_defaults", None))
        key = cache_key(self.name, messages, config)
        while True:
            stored = self.cache.get(key)
            if stored is not None:
                return self._hit(stored, on_delta)
            pending = self._inflight.get(key)
            if pending is None:
                break
            try:  # the same request is already on its way: share its answer
                shared = await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if pending.cancelled() and not (task is not None and task.cancelling()):
                    continue  # the first caller was cancelled, not us: try ourselves
                raise
            return self._hit(shared, on_delta)
        return await self._lead(key, messages, config, on_delta)

    async def _lead(
        self,
        key: str,
        messages: Sequence[ChatMessage],
        config: GenerateConfig,
        on_delta: DeltaCallback | None,
    ) -> Completion:
        future: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        self.misses += 1
        try:
            completion = await self.inner.generate(messages, config, on_delta)
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # waiters re-raise it; nobody else has to retrieve it
            raise
        except BaseException:
            future.cancel()
            raise
        finally:
            self._inflight.pop(key, None)
        future.set_result(completion)
        try:
            self.cache.put(key, completion)
        except OSError as exc:  # a full disk must not fail the request itself
            self.write_errors += 1
            logger.warning("cache: could not write %s: %s", self.cache.path(key), exc)
        return completion

    async def aclose(self) -> None:
        await self.inner.aclose()
