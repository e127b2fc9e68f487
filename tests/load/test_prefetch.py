"""The threads beside a load's main thread (etl/load/prefetch.py)."""

from __future__ import annotations

import threading

import pytest

from etl.load.prefetch import WriteBehind, prefetch


def test_prefetch_yields_everything_in_order_and_hands_on_the_producers_error():
    def items():
        yield from range(5)
        raise ValueError("bad export")

    seen = []
    with pytest.raises(ValueError, match="bad export"):
        for item in prefetch(items()):
            seen.append(item)
    assert seen == [0, 1, 2, 3, 4]


def test_write_behind_writes_in_order_in_another_thread():
    written, threads = [], set()

    def write(item):
        written.append(item)
        threads.add(threading.current_thread().name)

    with WriteBehind(write) as behind:
        for item in range(100):
            behind.put(item)
    assert written == list(range(100))  # all of them, by the time the block ends
    assert threads == {"write-behind"}


def test_a_write_that_fails_is_raised_to_the_caller_and_nothing_after_it_is_written():
    written = []

    def write(item):
        if item == 3:
            raise OSError("disk full")
        written.append(item)

    with pytest.raises(OSError, match="disk full"), WriteBehind(write) as behind:
        for item in range(50):
            behind.put(item)
    assert written == [0, 1, 2]


def test_the_callers_own_error_wins_and_the_writer_stops():
    with pytest.raises(KeyError), WriteBehind(lambda item: None) as behind:
        behind.put(1)
        raise KeyError("the caller's")
    assert not behind._worker.is_alive()
