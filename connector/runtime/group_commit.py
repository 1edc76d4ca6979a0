"""Committing a request's small database work, on SQLite's one writer, together with the
requests that arrived while the last commit ran (group commit): each request still
answers only after its own work is committed, and a commit's cost is shared. With more
than one writer (Postgres), each request commits alone, `concurrency` at a time.

A batch that fails is retried item by item, so one bad item fails only its own request."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

import anyio
from anyio import CapacityLimiter

from connector.ports import Connection, Store

T = TypeVar("T")


class GroupCommit(Generic[T]):
    def __init__(self, store: Store, *, concurrency: int = 1, grouped: bool | None = None) -> None:
        self.store = store
        self.limiter = CapacityLimiter(concurrency)
        self.grouped = concurrency == 1 if grouped is None else grouped
        self._pending: list[tuple[Callable[[Connection], T], asyncio.Future[T]]] = []
        self._flushing = False
        self._drainer: asyncio.Task[None] | None = None

    def _alone(self, fn: Callable[[Connection], T]) -> T:
        with self.store.begin() as conn:
            return fn(conn)

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """`fn`'s result, once its transaction is committed."""
        if not self.grouped:
            return await anyio.to_thread.run_sync(self._alone, fn, limiter=self.limiter)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((fn, future))
        if not self._flushing:
            # its own task, so a request that goes away cannot strand the others' commits
            self._flushing = True
            self._drainer = asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._flush(batch)
        finally:
            self._flushing = False

    async def _flush(
        self, batch: list[tuple[Callable[[Connection], T], asyncio.Future[T]]]
    ) -> None:
        def together() -> list[T]:
            with self.store.begin() as conn:
                return [fn(conn) for fn, _ in batch]

        try:
            results = await anyio.to_thread.run_sync(together, limiter=self.limiter)
        except Exception:  # noqa: BLE001 - one bad item must not fail the others: retry alone
            for fn, future in batch:
                try:
                    result = await anyio.to_thread.run_sync(self._alone, fn)
                except Exception as exc:  # noqa: BLE001 - handed to the request that owns it
                    if not future.done():
                        future.set_exception(exc)
                else:
                    if not future.done():
                        future.set_result(result)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():  # its request may have gone away; the row stands
                future.set_result(result)
