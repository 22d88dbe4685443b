"""`run_together`: simultaneous calls started in the caller's task, tasks only for waiters."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest

from debate.core.together import run_together


async def instant(value: int, log: list[int]) -> int:
    log.append(value)
    return value * 10


def test_instant_calls_run_in_order_without_tasks() -> None:
    async def main() -> tuple[list[int], list[int], int]:
        log: list[int] = []
        made: list[object] = []

        def count_tasks(loop: asyncio.AbstractEventLoop, coro: Any, **options: Any) -> Any:
            made.append(coro)
            return asyncio.Task(coro, loop=loop, **options)

        asyncio.get_running_loop().set_task_factory(count_tasks)
        results = await run_together([instant(i, log) for i in range(3)])
        return results, log, len(made)

    results, log, extra_tasks = asyncio.run(main())
    assert results == [0, 10, 20]
    assert log == [0, 1, 2]  # started in order: seeds drawn in order stay reproducible
    assert extra_tasks == 0


def test_waiting_calls_overlap_and_keep_their_order() -> None:
    async def main() -> list[str]:
        ready = asyncio.Event()

        async def waits() -> str:
            await ready.wait()  # only finishes if the next call runs meanwhile
            return "waited"

        async def releases() -> str:
            await asyncio.sleep(0)
            ready.set()
            return "released"

        return await asyncio.wait_for(run_together([waits(), releases()]), timeout=10)

    assert asyncio.run(main()) == ["waited", "released"]


def test_a_failing_call_cancels_the_others() -> None:
    cleaned: list[str] = []

    async def main() -> None:
        async def stuck() -> str:
            try:
                await asyncio.Event().wait()
                return "never"
            finally:
                cleaned.append("stuck")

        async def fails() -> str:
            await asyncio.sleep(0)
            raise ValueError("boom")

        await run_together([stuck(), fails()])

    with pytest.raises(ValueError, match="boom"):
        asyncio.run(main())
    assert cleaned == ["stuck"]


def test_cancelling_the_caller_reaches_the_waiting_calls() -> None:
    seen: list[str] = []

    async def main() -> None:
        async def stuck(name: str) -> str:
            try:
                await asyncio.Event().wait()
                return name
            except asyncio.CancelledError:
                seen.append(name)
                raise

        outer = asyncio.ensure_future(run_together([stuck("a"), stuck("b")]))
        await asyncio.sleep(0.01)
        outer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await outer

    asyncio.run(main())
    assert sorted(seen) == ["a", "b"]


def test_a_call_that_fails_at_once_closes_the_unstarted_ones() -> None:
    async def fails() -> int:
        raise KeyError("now")

    later = instant(1, [])

    async def main() -> None:
        await run_together([fails(), later])

    with pytest.raises(KeyError):
        asyncio.run(main())
    assert inspect.getcoroutinestate(later) == inspect.CORO_CLOSED


def test_a_timeout_inside_a_call_fails_that_call_not_the_caller() -> None:
    """`asyncio.timeout` (and aiohttp's timeouts) cancel the task that entered them; the
    call started in the caller's task must still see its own TimeoutError."""

    async def slow(name: str) -> str:
        async with asyncio.timeout(0.01):
            await asyncio.sleep(30)
        return name

    async def main() -> str:
        try:
            await run_together([slow("a"), slow("b")])
        except TimeoutError:
            return "timeout"
        return "finished"

    assert asyncio.run(main()) == "timeout"


def test_a_timeout_in_a_later_call_is_its_own_timeout() -> None:
    async def quick() -> str:
        await asyncio.sleep(0.05)
        return "quick"

    async def slow() -> str:
        async with asyncio.timeout(0.01):
            await asyncio.sleep(30)
        return "slow"

    async def main() -> str:
        try:
            await run_together([quick(), slow()])
        except TimeoutError:
            return "timeout"
        return "finished"

    assert asyncio.run(main()) == "timeout"
