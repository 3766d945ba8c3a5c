"""Argument values of the sequence driver: boundary data for strings and buffers (in exact-size
heap blocks), integers near the edges, and values the input passed or got back before."""

from __future__ import annotations

from typing import Any

from harness.contract.model import BYTE_TYPES, FunctionContract, pointee
from harness.engine.driving import exact_buffer
from harness.errors import TargetError
from harness.sequence.state import Arg, Choices, Handle, SkipCall
from harness.sequence.trace import Shown

MAX_BYTES = 96
MAX_RESULT = 4096  # the last result may be longer: a snapshot, a compressed stream, a rendered text
POOL = 16
EDITED_OFFSETS = 64  # edits at the first 63 byte offsets of a value are behaviours of their own (edited_field)


def element_size(ffi: Any, ctype: str) -> int:
    """The size of what a `T *` points to, in bytes: 1 for void, char and byte types (buffers of
    them count bytes), sizeof(T) otherwise."""
    base = pointee(ctype)
    return 1 if base is None or base in BYTE_TYPES else int(ffi.sizeof(base))


def integer_limits(ffi: Any, ctype: str) -> tuple[int, int]:
    """The lowest and highest value of an integer C type."""
    size = ffi.sizeof(ctype)
    if ffi.typeof(ctype).cname == "_Bool":  # cffi passes only 0 and 1 to a bool
        return 0, 1
    if int(ffi.cast(ctype, -1)) < 0:
        return -(1 << (8 * size - 1)), (1 << (8 * size - 1)) - 1
    return 0, (1 << (8 * size)) - 1


def edit(data: bytes, choices: Choices) -> tuple[bytes, int]:
    """data with one little-endian field of 1, 2 or 4 bytes (at a multiple of its size) set to a
    value near its old one or its edges, or cut short there; and where (the field's offset).
    Half the time the field is one whose value is at most the data's length - where a format
    keeps what its parser trusts: a count, an offset, a length, a type -, else any."""
    width = (1, 2, 4)[choices.int(0, 2)]
    slots = (len(data) - 1) // width + 1  # at a multiple of its width, as C lays out fields
    fits = [k for k in range(slots) if _field(data, k * width, width) <= len(data)] \
        if choices.int(0, 1) == 0 else []
    at = width * (fits[choices.int(0, len(fits) - 1)] if fits else choices.int(0, slots - 1))
    width = min(width, len(data) - at)
    top = (1 << (8 * width)) - 1
    old = _field(data, at, width)
    pick = choices.int(0, 7)
    if pick == 7:
        return data[:at], at
    value = (choices.int(0, top) if pick == 0 else
             (old + 1, old - 1, 0, top, top >> 1, (top >> 1) + 1)[pick - 1]) & top
    return data[:at] + value.to_bytes(width, "little") + data[at + width:], at


def edited_field(at: int) -> int:
    """Which field an edit at offset `at` changed, for the behaviour feedback: its offset, those
    past EDITED_OFFSETS - 1 counted as one (1-based; 0 is "not edited")."""
    return 1 + min(at, EDITED_OFFSETS - 1)


def _field(data: bytes, at: int, width: int) -> int:
    """The little-endian field of (at most) width bytes at `at`."""
    return int.from_bytes(data[at:at + width], "little")


def check_ranges(ffi: Any, plans: dict[str, list[Arg]]) -> None:
    """TargetError for a `ranges` entry with values its parameter's type cannot hold."""
    for function, plan in plans.items():
        for arg in plan:
            if arg.bounds is None:
                continue
            low, high = integer_limits(ffi, arg.ctype)
            if arg.bounds[0] < low or arg.bounds[1] > high:
                raise TargetError(f"{function}: range of {arg.name!r} {list(arg.bounds)} is outside what "
                                  f"{arg.ctype} holds ({low}..{high})")


class ValueMixin:
    """SequenceDriver's argument generation (uses its ffi, lib, state, _live, _callbacks)."""

    def _value(self, fc: FunctionContract, arg: Arg, choices: Choices, values: dict[str, Any]) -> Any:
        ffi, lib, state = self.ffi, self.lib, self.state
        role = arg.role
        if role == "handle":
            chosen = [v for v in values.values() if isinstance(v, Handle)]
            if arg.taken:  # handed over: owned, and neither one this call also gets nor one they are in
                live = [h for h in self._live(arg.other, owned=True) if not any(c.within(h) for c in chosen)]
            else:
                if arg.name in fc.nullable and choices.int(0, 15) == 0:
                    return None
                live = self._live(arg.other, owned=fc.name in self._destroys)
                given = [values[name] for name in fc.takes if isinstance(values.get(name), Handle)]
                if given:  # nothing inside a handle this call hands over (a tree would become a cycle)
                    live = [h for h in live if not any(h.within(g) for g in given)]
            if not live:
                raise SkipCall
            return live[choices.int(0, len(live) - 1)]
        if role == "child":  # a handle borrowed from a live handle of the parent's type
            live = [h for h in self._live(arg.other) if h.owner is not None and h.owner.type == arg.owner_type]
            if not live:
                raise SkipCall
            return live[choices.int(0, len(live) - 1)]
        if role == "parent_of":
            return values[arg.other].owner
        if role == "cstring":
            if arg.name in fc.nullable and choices.int(0, 15) == 0:
                return ffi.NULL
            text = self._text(choices).replace(b"\0", b"")
            values[f"#show:{arg.name}"] = Shown(text)
            return exact_buffer(ffi, lib, text + b"\0", arg.ctype)
        if role == "takes":
            if arg.name in fc.nullable and choices.int(0, 15) == 0:
                return ffi.NULL
            data = self._text(choices).replace(b"\0", b"") + b"\0"
            values[f"#show:{arg.name}"] = Shown(data[:-1], "strdup({})")
            pointer = ffi.cast(arg.ctype, lib.malloc(len(data)))
            ffi.memmove(pointer, data, len(data))
            return pointer
        if role == "buffer":  # its length parameter counts elements of the pointer's type
            size = element_size(ffi, arg.ctype)
            data = self._text(choices)
            data = data[:len(data) - len(data) % size]
            values[f"#len:{arg.name}"] = len(data) // size
            values[f"#show:{arg.name}"] = Shown(data)
            if arg.name in fc.nullable and not data and choices.int(0, 3) == 0:
                return ffi.NULL
            if arg.name in fc.takes:  # malloc'd, and from now on the library's to free
                pointer = ffi.cast(arg.ctype, lib.malloc(max(len(data), 1)))
                ffi.memmove(pointer, data, len(data))
                return pointer
            return exact_buffer(ffi, lib, data, arg.ctype)
        if role == "length_of":
            return values[f"#len:{arg.other}"]
        if role == "length_cell_of":  # in: the buffer's length; out: what the library says it read
            return ffi.new(arg.ctype.replace("const ", "", 1), values[f"#len:{arg.other}"])
        if role == "null":
            return ffi.NULL
        if role == "out_buffer":  # capacity in elements of the pointer's type
            cap = (0, 1, 2, 8, choices.int(0, 64), choices.int(0, 256))[choices.int(0, 5)]
            values[f"#cap:{arg.name}"] = cap
            return exact_buffer(ffi, lib, b"\xa5" * (cap * element_size(ffi, arg.ctype)), arg.ctype)
        if role == "capacity_of":
            return values[f"#cap:{arg.other}"]
        if role == "capacity_cell_of":  # in: the capacity; out: what the library says it wrote
            return ffi.new(arg.ctype, values[f"#cap:{arg.other}"])
        if role in ("cell", "out_pointer"):
            return ffi.new(arg.ctype.replace("const ", "", 1) if arg.ctype.startswith("const ") else arg.ctype)
        if role == "int":
            return self._int(arg.ctype, choices, arg.bounds)
        if role == "char":  # cffi passes a char as one byte
            return bytes((self._int(arg.ctype, choices, arg.bounds) & 0xFF,))
        if role == "float":
            return (0.0, 1.0, -1.0, 1e308, float("nan"))[choices.int(0, 4)]
        if role in ("callback", "callback_sync", "release"):
            if role == "release" and arg.name in fc.nullable and choices.int(0, 7) == 0:
                return ffi.NULL
            return self._callbacks.get(arg.ctype, ffi.NULL)
        if role == "user_data":
            token = ffi.new("char[1]")
            state.keep.append(token)
            return token
        if role == "registration_id":
            owners = {id(v) for v in values.values() if isinstance(v, Handle)}
            live = [r for r in state.registrations.values()
                    if not r.ended and r.function == arg.other and (r.owner is None or id(r.owner) in owners)]
            if live and choices.int(0, 7) != 0:
                return live[choices.int(0, len(live) - 1)].id
            return self._int(arg.ctype, choices)
        raise AssertionError(f"unknown role {role}")

    def _text(self, choices: Choices) -> bytes:
        """Fresh bytes half the time; else bytes this input passed or got back before, so keys meet
        again - half of those times the last bytes a call handed back, so what one call wrote (a
        snapshot, a compressed stream, a rendered text) is what the next reads -, and some of the
        reused ones edited (harness.sequence.values.edit): a quarter from the pool, half of the
        last result. A call given edited bytes is a behaviour of its own for each field edited
        (observe, edited_field), so an edit the library accepted stays in the corpus, and so
        does an input that edits a field no kept input edited - the next edits start from them."""
        pool = self.state.strings
        pick = choices.int(0, 3) if pool else 3
        if pick <= 1:
            latest = self.state.last_result if pick == 1 else None
            data = latest if latest is not None else pool[choices.int(0, len(pool) - 1)]
            # edited: a format the library wrote, slightly wrong
            if data and choices.int(0, 3) >= (2 if latest is not None else 3):
                data, at = edit(data, choices)
                self._remember(data)
                self.state.edited = edited_field(at)
            return data
        data = choices.bytes(MAX_BYTES)
        self._remember(data)
        return data

    def _remember(self, data: bytes, result: bool = False) -> None:
        """Keep bytes that crossed the boundary (either way) for later arguments; result: a
        call handed them back (the last of those is reused most)."""
        pool = self.state.strings
        if result and len(data) <= MAX_RESULT:
            self.state.last_result = data
        if len(data) <= MAX_BYTES and data not in pool:
            if len(pool) >= POOL:
                pool.pop(0)
            pool.append(data)

    def _int(self, ctype: str, choices: Choices, bounds: tuple[int, int] | None = None) -> int:
        """An integer of ctype near its edges - or, with bounds (`ranges`), near theirs and
        never outside them."""
        low, high = bounds if bounds is not None else integer_limits(self.ffi, ctype)
        pick = choices.int(0, 7)
        if pick == 0 and self.state.ints:
            value = self.state.ints[choices.int(0, len(self.state.ints) - 1)]
        elif pick <= 2:
            value = choices.int(0, 16) + (low if bounds is not None else 0)
        else:
            value = (0, 1, -1, high, low, choices.int(low, high))[pick - 2]
        return min(max(value, low), high)

