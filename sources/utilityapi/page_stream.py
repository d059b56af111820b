"""A listing page read as it streams: its objects handed on in batches, never the whole body.

An intervals page of 1000 objects can weigh a hundred MB. `ListingStream` is fed the body's
bytes as they arrive and cuts the listing's array (`{"intervals": [...], "next": ...}`) into
batches of whole objects, each handed to `on_batch` as soon as it is complete; it holds at most
one batch, one partial object and the last chunk. The page's other members (`next`,
`is_incomplete`) are kept and read when the body ends.

Where each object ends is found by msgspec's decoder, which reads one JSON value and reports
where the bytes after it begin. The batches are then parsed for real (by Arrow, or the tolerant
path), so a cut in the wrong place could only fail loudly, never lose or invent an object: a
run of whole JSON objects has no proper prefix that is itself a run of whole JSON objects.
Bodies of any other shape (a bare list, an empty body) are kept whole and judged by
`pages.json_page`, as they were before streaming.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import msgspec
import orjson

from .pages import Page, PayloadError, json_page, next_link

_VALUE = msgspec.json.Decoder(msgspec.Raw)
_TRAILING = re.compile(r"trailing characters \(byte (\d+)\)")
_AT_BYTE = re.compile(r"\(byte (\d+)\)")
# An input cut inside a number or literal reads as malformed there ("invalid number"), not as
# truncated: an error this close to the end of what has arrived may be the cut.
_NEAR_END = 32
_WHITESPACE = b" \t\r\n"
# Rescanning a partial object costs a pass over it: wait for this much more before trying again.
_RESCAN_BYTES = 256 * 1024
_OPENERS = frozenset(b'{["')

# What the next token may be.
_START = "start"  # the page's `{`
_KEY_OR_END = "key or }"  # right after `{`
_COMMA_OR_END = ", or }"  # after a member's value
_KEY = "key"  # after `,`
_COLON = ":"
_VALUE_NEXT = "value"
_ITEM_OR_CLOSE = "element or ]"  # right after the listing's `[`
_ITEM_COMMA_OR_CLOSE = ", or ]"
_ITEM = "element"  # after `,`
_DONE = "done"
_WHOLE = "whole"  # not an object: kept whole for json_page


class ListingStream:
    """Cuts one listing page's `key` array into batches of whole objects as bytes arrive.

    `on_batch(text, count)` receives the bytes of `count` consecutive array elements, comma
    separated (wrap them in `[...]` to parse them), in order. `close()` returns the page (the
    number of elements, `next`, `is_incomplete`) and raises PayloadError for a body that is not
    whole JSON, so the request is retried.
    """

    def __init__(self, key: str, on_batch: Callable[[bytes, int], None], batch_bytes: int) -> None:
        self.key = key
        self._on_batch = on_batch
        self._batch_bytes = batch_bytes
        self._buf = bytearray()
        self._pos = 0  # next byte to read in _buf
        self._expect = _START
        self._member = ""
        self._members: dict[str, bytes] = {}
        self._listing_seen = False
        self._batch_start: int | None = None
        self._batch_end = 0
        self._batch_count = 0
        self._items = 0
        self._ended = False
        self._scan_from = 0  # a partial value is not rescanned before _buf is this long

    @property
    def held(self) -> int:
        """Bytes held right now: the response size bound applies to this, not the body."""
        return len(self._buf)

    def feed(self, chunk: bytes) -> None:
        self._buf += chunk
        if self._expect == _WHOLE or len(self._buf) < self._scan_from:
            return
        self._advance()
        self._compact()

    def close(self) -> Page[int]:
        """The page's element count, `next` and `is_incomplete`, once the body has ended."""
        self._ended = True
        if self._expect == _START and not self._buf.strip(_WHITESPACE):
            self._expect = _WHOLE
        if self._expect != _WHOLE:
            self._advance()
        if self._expect == _WHOLE:
            json_page(bytes(self._buf), self.key)  # raises, naming what the body is
            raise PayloadError("the page is not a JSON object")
        if self._expect != _DONE:
            raise PayloadError(f"the body ended early (expected {self._expect})")
        if self._buf[self._pos :].strip(_WHITESPACE):
            raise PayloadError("bytes after the end of the page")
        members = {name: orjson.loads(raw) for name, raw in self._members.items()}
        if not self._listing_seen or self.key in members:
            json_page(orjson.dumps(members), self.key)  # no list: raises, naming what was there
        return Page(
            self._items, next_link(members.get("next")), members.get("is_incomplete") is True
        )

    def _advance(self) -> None:
        """Read as far as the bytes allow; stop at a value that has not fully arrived."""
        buf = self._buf
        while self._expect != _DONE:
            pos = self._pos
            while pos < len(buf) and buf[pos] in _WHITESPACE:
                pos += 1
            self._pos = pos
            if pos >= len(buf):
                return
            char = buf[pos]
            expect = self._expect
            if expect == _START:
                if char != 0x7B:  # `{`
                    self._expect = _WHOLE
                    return
                self._pos, self._expect = pos + 1, _KEY_OR_END
            elif char == 0x7D and expect in (_KEY_OR_END, _COMMA_OR_END):  # `}`
                self._pos, self._expect = pos + 1, _DONE
            elif char == 0x2C and expect == _COMMA_OR_END:  # `,`
                self._pos, self._expect = pos + 1, _KEY
            elif char == 0x22 and expect in (_KEY_OR_END, _KEY):  # a key
                end = self._value_end(pos)
                if end is None:
                    return
                self._member = msgspec.json.decode(bytes(buf[pos:end]))
                self._pos, self._expect = end, _COLON
            elif char == 0x3A and expect == _COLON:  # `:`
                self._pos, self._expect = pos + 1, _VALUE_NEXT
            elif expect == _VALUE_NEXT:
                if not self._value(pos, char):
                    return
            elif char == 0x5D and expect in (_ITEM_OR_CLOSE, _ITEM_COMMA_OR_CLOSE):  # `]`
                self._flush()
                self._pos, self._expect = pos + 1, _COMMA_OR_END
            elif char == 0x2C and expect == _ITEM_COMMA_OR_CLOSE:
                self._pos, self._expect = pos + 1, _ITEM
            elif expect in (_ITEM_OR_CLOSE, _ITEM):
                if not self._item(pos):
                    return
            else:
                raise PayloadError(f"expected {expect}, got {chr(char)!r} at byte {pos}")

    def _value(self, pos: int, char: int) -> bool:
        if self._member in self._members or (self._member == self.key and self._listing_seen):
            raise PayloadError(f"the page has '{self._member}' twice")
        if self._member == self.key and char == 0x5B:  # `[`: the listing itself
            self._listing_seen = True
            self._pos, self._expect = pos + 1, _ITEM_OR_CLOSE
            return True
        end = self._value_end(pos)
        if end is None:
            return False
        self._members[self._member] = bytes(self._buf[pos:end])
        self._listing_seen = self._listing_seen or self._member == self.key
        self._pos, self._expect = end, _COMMA_OR_END
        return True

    def _item(self, pos: int) -> bool:
        end = self._value_end(pos)
        if end is None:
            return False
        if self._batch_start is None:
            self._batch_start = pos
        self._batch_end = self._pos = end
        self._batch_count += 1
        self._items += 1
        self._expect = _ITEM_COMMA_OR_CLOSE
        if self._batch_end - self._batch_start >= self._batch_bytes:
            self._flush()
        return True

    def _value_end(self, start: int) -> int | None:
        """Where the JSON value starting at `start` ends, or None if it has not fully arrived."""
        view = memoryview(self._buf)
        try:
            _VALUE.decode(view[start:])
        except msgspec.DecodeError as exc:
            message = str(exc)
            trailing = _TRAILING.search(message)
            if trailing:  # byte N (counted from 1) is the first one after the value
                return start + int(trailing.group(1)) - 1
            at = _AT_BYTE.search(message)
            near_end = at is not None and start + int(at.group(1)) > len(self._buf) - _NEAR_END
            if "truncated" not in message and not near_end:
                raise PayloadError(message) from None
            if self._ended:
                raise PayloadError("the body ended inside a value") from None
            self._scan_from = len(self._buf) + _RESCAN_BYTES
            return None
        finally:
            view.release()
        # The value runs to the last byte received: an object, list or string is whole, but a
        # number or literal may go on in the next chunk.
        if self._ended or self._buf[start] in _OPENERS:
            return len(self._buf)
        self._scan_from = len(self._buf) + 1
        return None

    def _flush(self) -> None:
        if self._batch_start is None:
            return
        with memoryview(self._buf) as view:
            text = bytes(view[self._batch_start : self._batch_end])
        count = self._batch_count
        self._batch_start, self._batch_count = None, 0
        self._on_batch(text, count)

    def _compact(self) -> None:
        """Drop the bytes already read, except the batch being gathered."""
        keep = self._pos if self._batch_start is None else self._batch_start
        if not keep:
            return
        del self._buf[:keep]
        self._pos -= keep
        if self._batch_start is not None:
            self._batch_start -= keep
            self._batch_end -= keep
        self._scan_from = max(0, self._scan_from - keep)


def parse_elements(text: bytes) -> list[Any]:
    """A batch's elements as Python objects (the tolerant path)."""
    try:
        result: list[Any] = orjson.loads(b"[" + text + b"]")
    except orjson.JSONDecodeError as exc:
        raise PayloadError(str(exc)) from exc
    return result
