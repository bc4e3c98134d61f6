"""Resources shared by everything running on one event loop: the triggerer's many triggers.

A triggerer runs hundreds of triggers in one event loop. Giving each its own connection pool (or its own
botocore client) costs each a socket, a TLS session and dozens of objects for the garbage collector to walk;
triggers that talk to the same service can share one. :class:`LoopShared` hands out *leases* on a resource
per event loop and key, and closes the resource when its last lease is released.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

R = TypeVar("R")
Closer = Callable[[], Awaitable[Any]]


@dataclass(eq=False)
class Lease(Generic[R]):
    """One user's hold on a shared resource; give it back with :meth:`LoopShared.release`."""

    key: Hashable
    resource: R
    _entry: _Entry[R] = field(repr=False)
    released: bool = False


@dataclass(eq=False)
class _Entry(Generic[R]):
    key: Hashable
    resource: R
    close: Closer
    created: float = field(default_factory=time.monotonic)
    users: int = 0


class LoopShared(Generic[R]):
    """Resources shared per event loop and key, each closed when its last lease is released.

    :param max_age: seconds after which new leases get a freshly made resource (the old one closes when its
        last lease is released); ``None`` keeps one for as long as it is leased. Use it where a resource holds
        something that may change, such as credentials read from a connection.
    :param capacity: leases one resource serves at most; further users of the key get another resource.
        ``None``: no limit.
    """

    def __init__(self, max_age: float | None = None, capacity: int | None = None) -> None:
        self.max_age = max_age
        self.capacity = capacity
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, Any]] = (
            weakref.WeakKeyDictionary()
        )

    def _entries(self, key: Hashable) -> list[_Entry[R]]:
        state = self._by_loop.setdefault(asyncio.get_running_loop(), {})
        entries: list[_Entry[R]] = state.setdefault(key, [])
        return entries

    def _vacant(self, key: Hashable) -> _Entry[R] | None:
        now = time.monotonic()
        for entry in self._entries(key):
            if self.max_age is not None and now - entry.created > self.max_age:
                continue
            if self.capacity is None or entry.users < self.capacity:
                return entry
        return None

    def _lease(self, entry: _Entry[R]) -> Lease[R]:
        entry.users += 1
        return Lease(entry.key, entry.resource, entry)

    def _add(self, key: Hashable, resource: R, close: Closer) -> _Entry[R]:
        entry = _Entry(key, resource, close)
        self._entries(key).append(entry)
        return entry

    def lease(self, key: Hashable, make: Callable[[], tuple[R, Closer]]) -> Lease[R]:
        """A lease on a resource for ``key`` on the running loop, made now by ``make()`` if none has room.

        ``make`` returns the resource and a coroutine function that closes it; it must not block the loop.
        """
        entry = self._vacant(key) or self._add(key, *make())
        return self._lease(entry)

    async def alease(self, key: Hashable, make: Callable[[], Awaitable[tuple[R, Closer]]]) -> Lease[R]:
        """:meth:`lease` for a resource made by a coroutine: one is made at a time per key, however many
        users ask at once."""
        state = self._by_loop.setdefault(asyncio.get_running_loop(), {})
        lock = state.setdefault(("lock", key), asyncio.Lock())
        async with lock:
            entry = self._vacant(key) or self._add(key, *(await make()))
            return self._lease(entry)

    async def release(self, lease: Lease[R]) -> None:
        """Give a lease back (once; again is a no-op); the last one closes the resource."""
        if lease.released:
            return
        lease.released = True
        entry = lease._entry
        entry.users -= 1
        if entry.users > 0:
            return
        state = self._by_loop.get(asyncio.get_running_loop(), {})
        entries = state.get(entry.key, [])
        if entry in entries:
            entries.remove(entry)
            if not entries:
                del state[entry.key]
        await entry.close()

    def resources(self, key: Hashable) -> int:
        """How many resources the running loop holds for ``key`` (for tests and diagnostics)."""
        return len(self._entries(key))
