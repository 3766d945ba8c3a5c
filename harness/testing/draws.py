"""Interactive draws (`st.data()`) inside a forked example, answered by the parent.

A draw made in the forked child would be invisible to hypothesis (it lives in the parent):
the next run of the example "draws more data than the first" and hypothesis reports a flaky
strategy. So the child's `data.draw(strategy)` asks the parent instead: it sends the
strategy's repr, the parent rebuilds the strategy from it (hypothesis's reprs are calls such
as `integers(0, 12)`; harness strategies such as `sizes_near(12, spread=2)` too), draws from
the real DataObject - the draw is part of the example, shrunk and replayed with it - and
sends the value back. A strategy whose repr is not such a call (a lambda using local names,
a custom class) is refused with an error naming the fix.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
from typing import Any

import hypothesis.strategies as st

HEADER = struct.Struct("<I")


def is_data(value: object) -> bool:
    """True for the DataObject hypothesis passes for st.data()."""
    return isinstance(value, st.DataObject)


class UnanswerableDraw(Exception):
    """A draw the parent cannot make: the strategy cannot be rebuilt from its repr."""


def send(fd: int, message: object) -> None:
    """Write one length-prefixed pickled message to fd."""
    payload = pickle.dumps(message)
    view = memoryview(HEADER.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view):]


def receive(fd: int) -> Any:
    """Read one message written by send(); EOFError when the other side closed fd."""
    def exactly(size: int) -> bytes:
        chunks, left = [], size
        while left:
            chunk = os.read(fd, left)
            if not chunk:
                raise EOFError("the other side of the draw channel is gone")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    (size,) = HEADER.unpack(exactly(HEADER.size))
    return pickle.loads(exactly(size))


class DrawChannel:
    """Two pipes between a forked example and its parent: requests up, values down."""

    def __init__(self) -> None:
        self.request_read, self.request_write = os.pipe()
        self.answer_read, self.answer_write = os.pipe()
        self._strategies: dict[str, st.SearchStrategy[Any]] = {}

    def child_side(self) -> ChildData:
        """In the child: close the parent's ends; the DataObject stand-in."""
        os.close(self.request_read)
        os.close(self.answer_write)
        return ChildData(self.request_write, self.answer_read)

    def parent_side(self) -> int:
        """In the parent: close the child's ends; the fd to select on for requests."""
        os.close(self.request_write)
        os.close(self.answer_read)
        return self.request_read

    def close(self) -> None:
        """Close the parent's ends."""
        for fd in (self.request_read, self.answer_write):
            with contextlib.suppress(OSError):
                os.close(fd)

    def serve(self, data: Any) -> bool:
        """Answer one request from the child with data.draw(); False when the child closed the
        channel (it ended). Exceptions of data.draw (hypothesis's own) propagate: the example ends."""
        try:
            text, label = receive(self.request_read)
        except EOFError:
            return False
        try:
            strategy = self._strategy(text)
        except UnanswerableDraw as error:
            send(self.answer_write, ("error", str(error)))
            return True
        value = data.draw(strategy, label=label)
        try:
            send(self.answer_write, ("ok", value))
        except pickle.PicklingError as error:
            send(self.answer_write, ("error", f"the drawn value cannot be sent to the example: {error}"))
        return True

    def _strategy(self, text: str) -> st.SearchStrategy[Any]:
        if text not in self._strategies:
            from harness.testing import strategies as ours

            names = {**vars(st), **{n: getattr(ours, n) for n in getattr(ours, "__all__", dir(ours))}}
            try:
                strategy = eval(text, names)  # a repr our own forked child sent
            except Exception as error:
                raise UnanswerableDraw(
                    f"st.data() inside an isolated example: cannot rebuild {text!r} in the parent ({error}). "
                    "Draw it with a strategy built from hypothesis or harness strategies and literal "
                    "arguments, or draw it in the test before the isolated part and pass the value in."
                ) from error
            if not isinstance(strategy, st.SearchStrategy):
                raise UnanswerableDraw(f"{text!r} is not a strategy")
            self._strategies[text] = strategy
        return self._strategies[text]


class ChildData:
    """What the isolated function gets for st.data(): draw() is answered by the parent."""

    def __init__(self, requests: int, answers: int) -> None:
        self._requests = requests
        self._answers = answers

    def draw(self, strategy: st.SearchStrategy[Any], label: object = None) -> Any:
        """Like DataObject.draw: the value comes from the parent's hypothesis run."""
        send(self._requests, (repr(strategy), None if label is None else str(label)))
        status, value = receive(self._answers)
        if status != "ok":
            raise UnanswerableDraw(value)
        return value

    def __repr__(self) -> str:
        return "data(...) answered by the parent"
