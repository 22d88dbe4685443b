"""One async client per event loop.

HTTP clients (an `AsyncOpenAI`, an aiohttp session) belong to the event loop that made
them, and one process may run several loops in turn (`asyncio.run` per command, tests,
the reward server's workers). `PerLoop` makes a client on first use in each loop, drops
the ones whose loop has closed, and closes the current loop's client on `aclose`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Client = TypeVar("Client")


class PerLoop(Generic[Client]):
    def __init__(
        self,
        make: Callable[[], Client],
        close: Callable[[Client], Awaitable[None]],
        is_closed: Callable[[Client], bool] = lambda _client: False,
    ) -> None:
        self._make = make
        self._close = close
        self._is_closed = is_closed
        self._clients: dict[asyncio.AbstractEventLoop, Client] = {}

    def get(self) -> Client:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or self._is_closed(client):
            for dead in [old for old in self._clients if old.is_closed()]:
                del self._clients[dead]
            client = self._clients[loop] = self._make()
        return client

    async def aclose(self) -> None:
        """Close this loop's client, if it made one."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - called outside a loop
            return
        client = self._clients.pop(loop, None)
        if client is not None:
            await self._close(client)
