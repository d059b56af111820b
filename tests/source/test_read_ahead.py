"""pages.read_ahead: a listing read on a thread of its own, a bounded number of items ahead."""

from __future__ import annotations

import threading

import pytest

from sources.utilityapi.pages import read_ahead


class Listing:
    """Yields 0..n-1, recording what it produced and whether it was closed."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.n = n
        self.fail_at = fail_at
        self.produced: list[int] = []
        self.closed = threading.Event()
        self.asked = {i: threading.Event() for i in range(n + 1)}

    def __iter__(self):
        try:
            for i in range(self.n):
                self.asked[i].set()
                if i == self.fail_at:
                    raise RuntimeError(f"page {i} failed")
                self.produced.append(i)
                yield i
            self.asked[self.n].set()
        finally:
            self.closed.set()


def test_every_item_arrives_in_order():
    assert list(read_ahead(Listing(7), ahead=2, name="t")) == list(range(7))
    assert list(read_ahead(Listing(0), ahead=2, name="t")) == []


def test_the_next_items_are_read_while_the_reader_holds_one():
    listing = Listing(5)
    reader = read_ahead(listing, ahead=2, name="t")
    assert next(reader) == 0
    # the reader holds item 0; the thread goes on to items 1 and 2, not 3
    assert listing.asked[2].wait(timeout=10)
    assert not listing.asked[3].is_set()
    assert list(reader) == [1, 2, 3, 4]


def test_no_more_than_ahead_items_are_read_past_what_was_taken():
    listing = Listing(10)
    reader = read_ahead(listing, ahead=2, name="t")
    assert next(reader) == 0
    assert listing.asked[2].wait(timeout=10)
    reader.close()
    assert listing.closed.wait(timeout=10)
    # item 0 taken, items 1 and 2 read ahead; item 3 was never asked for
    assert listing.produced == [0, 1, 2]
    assert not listing.asked[3].is_set()


def test_the_thread_never_runs_more_than_ahead_items_past_the_reader():
    listing = Listing(40)
    ahead = 3
    beyond = []
    for item in read_ahead(listing, ahead=ahead, name="t"):
        # while the reader holds `item`, the thread reads up to `ahead` more, and no further
        # until the reader asks for the next one (a thread allowed more gets there at once)
        last = min(item + ahead, listing.n)
        assert listing.asked[last].wait(timeout=10)
        if last + 1 <= listing.n and listing.asked[last + 1].is_set():
            beyond.append(item)
    assert listing.produced == list(range(40))
    assert beyond == []


def test_an_error_is_raised_after_the_items_before_it():
    got = []
    with pytest.raises(RuntimeError, match="page 3 failed"):
        for item in read_ahead(Listing(6, fail_at=3), ahead=2, name="t"):
            got.append(item)
    assert got == [0, 1, 2]
