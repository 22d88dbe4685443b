"""Simultaneous model calls: `run_together`, `asyncio.gather` without a task per instant call.

Used by `speak` with `together: true` and by any step that asks several roles at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar, cast

T = TypeVar("T")


async def run_together(calls: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Await calls concurrently, like `asyncio.gather`, results in order.

    Calls are started one by one in the caller's task. A call that completes without
    waiting (instant models: scripted, cache hits) makes no task at all, which shows at
    tens of thousands of turns per second. The first call that has to wait stays in the
    caller's task, which drives it to its end; every later call runs in a task of its
    own from its first step. So each call runs wholly in one task: a timeout set inside a
    call (`asyncio.timeout`, aiohttp's) cancels the task that runs it and surfaces there
    as a `TimeoutError`, never as a stray cancellation of another call. The first failure
    cancels the other calls and is raised.
    """
    results: list[Any] = [None] * len(calls)
    for index, call in enumerate(calls):
        try:
            yielded = call.send(None)
        except StopIteration as stop:
            results[index] = stop.value
            continue
        except BaseException:
            for later in calls[index + 1 :]:
                later.close()  # never started: no "never awaited" warning
            raise
        tasks = [asyncio.ensure_future(later) for later in calls[index + 1 :]]
        try:
            results[index] = await _drive(call, yielded, tasks)
            results[index + 1 :] = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
                task.add_done_callback(_retrieve)  # its own failure is not news any more
            raise
        break
    return results


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _failure(tasks: list[asyncio.Task[Any]]) -> BaseException | None:
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            return task.exception()
    return None


async def _drive(call: Coroutine[Any, Any, T], yielded: Any, others: list[asyncio.Task[Any]]) -> T:
    """Drive a coroutine started by hand in this task to its end, as the task itself would
    had it awaited the coroutine: wait for what it waits on, resume it, repeat. A
    cancellation of this task, or a failure of one of `others`, is passed into the
    coroutine as a cancellation where it waits."""
    failure: BaseException | None = None
    try:
        while True:
            cancelled = False
            if yielded is None:  # a bare yield (asyncio.sleep(0))
                try:
                    await asyncio.sleep(0)
                except asyncio.CancelledError:
                    cancelled = True
            else:
                yielded._asyncio_future_blocking = False
                while not yielded.done():
                    watched = [yielded] if failure else [yielded, *others]
                    try:
                        await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                    except asyncio.CancelledError:
                        if not yielded.cancel():
                            cancelled = True
                            break
                        continue
                    if failure is None:
                        failure = _failure(others)
                        if failure is not None and not yielded.cancel():
                            cancelled = True
                            break
            try:
                yielded = call.throw(asyncio.CancelledError()) if cancelled else call.send(None)
            except StopIteration as stop:
                if failure is not None:
                    raise failure from None
                return cast(T, stop.value)
            except asyncio.CancelledError:
                if failure is not None:
                    raise failure from None
                raise
    finally:
        call.close()  # a no-op once it has finished; else its cleanup runs now
