"""A tiny message box for callback-style asyncio clients: a deque and one waiter."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any


class Box:
    __slots__ = ("closed", "messages", "waiter")

    def __init__(self) -> None:
        self.messages: deque[Any] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False

    def put(self, message: Any) -> None:
        self.messages.append(message)
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def get(self) -> Any:
        while not self.messages:
            if self.closed:
                raise ConnectionError("connection closed")
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        return self.messages.popleft()
