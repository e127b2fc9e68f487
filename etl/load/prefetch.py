"""Work beside the load's main thread: parsing the next batch ahead of it, writing the last behind it."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def prefetch(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Yield what `items` yields, computed ahead by at most `depth` items (memory stays bounded).

    An exception in the producer is raised in the consumer; if the consumer stops early,
    the producer is told to stop too.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    failure: list[BaseException] = []

    def put(item) -> bool:
        """Hand `item` over, unless the consumer has stopped; says whether it was handed over."""
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer below
            failure.append(exc)
        finally:
            put(_DONE)

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                break
            yield item
        if failure:
            raise failure[0]
    finally:
        stop.set()
        worker.join()


class WriteBehind:
    """Calls `write(item)` for each item handed to `put`, in a thread of its own and at most `depth`
    items behind, so that the caller goes on with the next batch while the last is encoded and
    compressed (Arrow's Parquet writer lets go of the GIL). An error in `write` is raised by the next
    `put` or by `close`, which waits for every item to be written."""

    def __init__(self, write: Callable[[T], object], depth: int = 2):
        self._write = write
        self._buffer: queue.Queue = queue.Queue(maxsize=depth)
        self._failure: list[BaseException] = []
        self._worker = threading.Thread(target=self._drain, name="write-behind", daemon=True)
        self._worker.start()

    def _drain(self) -> None:
        while (item := self._buffer.get()) is not _DONE:
            if not self._failure:  # after a failure, items are taken and dropped: put never blocks for ever
                try:
                    self._write(item)
                except BaseException as exc:  # handed to the caller by put or close
                    self._failure.append(exc)

    def put(self, item: T) -> None:
        if self._failure:
            raise self._failure[0]
        self._buffer.put(item)

    def close(self) -> None:
        self._stop()
        if self._failure:
            raise self._failure[0]

    def _stop(self) -> None:
        if self._worker.is_alive():
            self._buffer.put(_DONE)
            self._worker.join()

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self._stop()  # the caller's error is the one raised
