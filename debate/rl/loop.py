"""Running reward coroutines for callers that are not on our event loop.

`BackgroundLoop` is an event loop on a daemon thread: synchronous callers (TRL's sync
reward functions, verl's thread-pool managers) submit coroutines and wait for them,
and coroutines on another loop await them without blocking it. The models' batchers
and HTTP sessions then live on one loop for the whole process.

`Coalescer` merges the items of concurrent one-item calls (verl's reward loop awaits
one `compute_score` per sample, all at once) into one `DebateRewarder.score` call, so
they share one engine run, its batched model calls and its de-duplication.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from debate.rl.reward import DebateRewarder, ItemResult, RewardItem

Result = TypeVar("Result")
GATHER_WINDOW_S = 0.005  # how long the first of several concurrent calls waits for the others


class BackgroundLoop:
    """An event loop on its own daemon thread, started on first use."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name=self.name, daemon=True).start()
                self._loop = loop
            return self._loop

    def run(self, coroutine: Coroutine[Any, Any, Result]) -> Result:
        """Run `coroutine` on the loop and wait for its result (from another thread)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    async def wait(self, coroutine: Coroutine[Any, Any, Result]) -> Result:
        """Await `coroutine` running on the loop, from a coroutine on another loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))

    def stop(self, last: Coroutine[Any, Any, Any] | None = None) -> None:
        """Run `last` (e.g. closing the models), then stop the loop."""
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is None:
            if last is not None:
                last.close()
            return
        if last is not None:
            asyncio.run_coroutine_threadsafe(last, loop).result()
        loop.call_soon_threadsafe(loop.stop)


class Coalescer:
    """One `score` call (one engine run) for the items of concurrent `score_one` calls."""

    def __init__(self, rewarder: DebateRewarder, window_s: float = GATHER_WINDOW_S) -> None:
        self.rewarder = rewarder
        self.window_s = window_s
        self._pending: list[tuple[RewardItem, asyncio.Future[ItemResult]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def score_one(self, item: RewardItem) -> ItemResult:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ItemResult] = loop.create_future()
        self._pending.append((item, future))
        if len(self._pending) == 1:
            loop.call_later(self.window_s, self._flush)
        return await future

    def _flush(self) -> None:
        entries, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._score(entries))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _score(self, entries: list[tuple[RewardItem, asyncio.Future[ItemResult]]]) -> None:
        try:
            batch = await self.rewarder.score([item for item, _ in entries])
        except Exception as exc:  # every waiting caller gets the reason
            for _, future in entries:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(entries, batch.results, strict=True):
            if not future.done():
                future.set_result(result)
