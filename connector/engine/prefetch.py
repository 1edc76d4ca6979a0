"""A bounded read-ahead: the next CRM page is fetched while the current one is applied.

The producer runs the iterator on one thread of its own, so every CRM call of a pull
(the pages, the owner look-ups folded into the same stage) stays on that thread and the
adapters' sessions are never shared. `depth` pages at most wait in the queue, so memory
stays bounded however fast the CRM answers. An error on the producer is raised to the
consumer at the point it happened; a consumer that stops early (shutdown, an error of
its own) stops the producer and waits for it."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_POLL_S = 0.2


class _End:
    """The producer's last item: the iterator ended, or raised `error`."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class Prefetch(Generic[T]):
    """Iterate `source` on a thread, `depth` items ahead of the consumer."""

    def __init__(self, source: Iterator[T], depth: int = 1, name: str = "prefetch") -> None:
        if depth < 1:
            raise ValueError(f"prefetch depth must be at least 1, not {depth}")
        self._source = source
        self._queue: queue.Queue[T | _End] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)

    def __iter__(self) -> Iterator[T]:
        self._thread.start()
        try:
            while True:
                item = self._queue.get()
                if isinstance(item, _End):
                    if item.error is not None:
                        raise item.error
                    return
                yield item
        finally:
            self.close()

    def close(self) -> None:
        """Stop the producer (it finishes the page in hand) and wait for it."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _produce(self) -> None:
        end = _End(None)
        try:
            for item in self._source:
                if not self._put(item):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            end = _End(exc)
        finally:
            close = getattr(self._source, "close", None)
            if close is not None and self._stop.is_set():
                close()
        self._put(end)

    def _put(self, item: T | _End) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
            except queue.Full:
                continue
            return True
        return False
