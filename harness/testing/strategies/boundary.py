"""The strategies behind harness.testing.strategies. Each checks its arguments when created (raising
hypothesis.errors.InvalidArgument, which is also a TypeError/ValueError-style error) and
returns a strategy whose repr reproduces the call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

C_TYPES = {
    "int8": (-(2**7), 2**7 - 1), "uint8": (0, 2**8 - 1),
    "int16": (-(2**15), 2**15 - 1), "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1), "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1), "uint64": (0, 2**64 - 1),
    "size_t": (0, 2**64 - 1), "ssize_t": (-(2**63), 2**63 - 1),
}


def _check_size(name: str, value: object, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgument(f"{name}={value!r} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise InvalidArgument(f"Cannot have {name}={value!r} < {minimum}")
    return value


def _check_range(min_name: str, low: int, max_name: str, high: int) -> None:
    _check_size(min_name, low)
    _check_size(max_name, high)
    if high < low:
        raise InvalidArgument(f"Cannot have {max_name}={high!r} < {min_name}={low!r}")


def _named(text: str, build: Callable[[], st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """build()'s strategy, with a repr that reproduces the public call."""
    return _Named(text, build())


class _Named(st.SearchStrategy):  # type: ignore[type-arg]
    """Draws from `inner`; its repr is the public call that made it."""

    def __init__(self, text: str, inner: st.SearchStrategy[Any]) -> None:
        super().__init__()
        self._text = text
        self._inner = inner

    def __repr__(self) -> str:
        return self._text

    def do_draw(self, data: Any) -> Any:
        return data.draw(self._inner)


def c_strings(*, min_size: int = 0, max_size: int = 64, alphabet: bytes | None = None) -> st.SearchStrategy[bytes]:
    """Byte strings a C function takes as `const char *`: no NUL byte anywhere.

    alphabet: the bytes to use (default every byte but NUL)."""
    _check_range("min_size", min_size, "max_size", max_size)
    if alphabet is not None and (not isinstance(alphabet, bytes) or not alphabet or b"\0" in alphabet):
        raise InvalidArgument(f"alphabet={alphabet!r} must be non-empty bytes without NUL")
    chars = sorted(set(alphabet or bytes(range(1, 256))))
    text = f"c_strings(min_size={min_size}, max_size={max_size}" + (f", alphabet={alphabet!r})" if alphabet else ")")
    return _named(text, lambda: st.lists(st.sampled_from(chars), min_size=min_size, max_size=max_size)
                  .map(bytes))


def bytes_with_nul(*, min_size: int = 1, max_size: int = 64) -> st.SearchStrategy[bytes]:
    """Byte strings with at least one embedded NUL, often first, last or doubled: the inputs
    a C-string conversion must refuse (CString::new) and strlen silently truncates."""
    _check_range("min_size", min_size, "max_size", max_size)
    if max_size < 1:
        raise InvalidArgument(f"Cannot have max_size={max_size!r} < 1: a NUL needs one byte")

    def place(parts: tuple[bytes, int, int]) -> bytes:
        body, where, count = parts
        where = min(where, len(body))
        nul = b"\0" * count
        return (body[:where] + nul + body[where:])[: max(max_size, 1)]

    low = max(min_size - 1, 0)
    return _named(f"bytes_with_nul(min_size={min_size}, max_size={max_size})", lambda: st.tuples(
        st.binary(min_size=low, max_size=max(max_size - 1, low)),
        st.one_of(st.just(0), st.integers(0, max_size), st.just(max_size)),
        st.integers(1, 2)).map(place).filter(lambda b: b"\0" in b and len(b) >= min_size))


# Ill-formed UTF-8, by the rule each breaks (Unicode 15, table 3-7).
_INVALID_UTF8 = (
    b"\x80", b"\xbf", b"\xc0\x80", b"\xc1\xbf",          # lone continuation, overlong 2-byte
    b"\xe0\x80\x80", b"\xf0\x80\x80\x80",                # overlong 3- and 4-byte
    b"\xed\xa0\x80", b"\xed\xbf\xbf",                    # UTF-16 surrogates
    b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xff",   # above U+10FFFF, never valid
    b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98",               # truncated sequences
)


def invalid_utf8(*, max_size: int = 32) -> st.SearchStrategy[bytes]:
    """Byte strings that are not UTF-8: valid text with overlong forms, surrogates, values
    above U+10FFFF, lone continuation bytes or sequences cut short spliced in (also at the end)."""
    _check_size("max_size", max_size, 1)
    piece = st.sampled_from(_INVALID_UTF8)
    valid = st.text(max_size=max_size).map(lambda t: t.encode("utf-8"))

    def splice(parts: tuple[bytes, bytes, bytes]) -> bytes:
        return parts[0] + parts[1] + parts[2]

    return _named(f"invalid_utf8(max_size={max_size})",
                  lambda: st.tuples(valid, piece, st.one_of(st.just(b""), valid)).map(splice))


def non_bmp_text(*, min_size: int = 0, max_size: int = 16) -> st.SearchStrategy[str]:
    """Text with characters outside the Basic Multilingual Plane (4-byte UTF-8, surrogate
    pairs in UTF-16) mixed with ASCII and 2-/3-byte characters."""
    _check_range("min_size", min_size, "max_size", max_size)
    alphabet = st.one_of(st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF, exclude_categories=("Cs",)),
                         st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",)))
    return _named(f"non_bmp_text(min_size={min_size}, max_size={max_size})",
                  lambda: st.text(alphabet, min_size=max(min_size, 1), max_size=max(max_size, 1))
                  .filter(lambda t: any(ord(c) > 0xFFFF for c in t)))


def sizes_near(capacity: int, *, spread: int = 2) -> st.SearchStrategy[int]:
    """Sizes where off-by-one bugs live: capacity-spread..capacity+spread, 0, 1, and the
    powers of two (and their neighbours) up to twice the capacity."""
    _check_size("capacity", capacity)
    _check_size("spread", spread)
    powers = [p + d for e in range(max(capacity * 2, 2).bit_length() + 1) for p in [2**e] for d in (-1, 0, 1)]
    near = range(max(capacity - spread, 0), capacity + spread + 1)
    choices = sorted({s for s in [0, 1, *near, *powers] if s >= 0})
    return _named(f"sizes_near({capacity}, spread={spread})", lambda: st.sampled_from(choices))


def buffers(*, max_size: int = 64, honest: bool | None = None) -> st.SearchStrategy[tuple[bytes, int]]:
    """(buffer, length) pairs as a C API receives them; the length may disagree with the
    buffer (shorter, one more, far more) unless honest=True. honest=False: always disagree."""
    _check_size("max_size", max_size)
    if honest not in (None, True, False):
        raise InvalidArgument(f"honest={honest!r} must be True, False or None")

    def lengths(buf: bytes) -> st.SearchStrategy[tuple[bytes, int]]:
        lying = st.sampled_from(sorted({max(len(buf) - 1, 0), len(buf) + 1, len(buf) * 2 + 8, 2**31}
                                       - ({len(buf)} if buf else {0})))
        choice = st.just(len(buf)) if honest else lying if honest is False else st.one_of(st.just(len(buf)), lying)
        return choice.map(lambda n: (buf, n))

    text = f"buffers(max_size={max_size}" + (f", honest={honest})" if honest is not None else ")")
    return _named(text, lambda: st.binary(max_size=max_size).flatmap(lengths))


def int_limits(ctype: str = "int32") -> st.SearchStrategy[int]:
    """Integers at the limits of a C type (min, max, 0, +-1 around them) and, rarely, inside."""
    if ctype not in C_TYPES:
        raise InvalidArgument(f"ctype={ctype!r} is not one of {', '.join(C_TYPES)}")
    low, high = C_TYPES[ctype]
    edges = sorted({v for v in (low, low + 1, -1, 0, 1, high - 1, high, high // 2, high // 2 + 1)
                    if low <= v <= high})
    return _named(f"int_limits({ctype!r})",
                  lambda: st.one_of(st.sampled_from(edges), st.integers(low, high)))


def _plain_component(raw: bytes) -> bytes:
    return raw.replace(b"\0", b"_").replace(b"/", b"_")


def path_bytes(*, max_parts: int = 6) -> st.SearchStrategy[bytes]:
    """Path-like byte strings: separators doubled or trailing, '.', '..', very long
    components, non-UTF-8 names, a leading '-', spaces and newlines (no NUL)."""
    _check_size("max_parts", max_parts, 1)
    part = st.one_of(st.sampled_from([b".", b"..", b"", b"-rf", b"a b", b"new\nline", b"\xff\xfe", b"~"]),
                     st.binary(min_size=1, max_size=12).map(_plain_component),
                     st.just(b"x" * 255), st.just(b"y" * 300))
    return _named(f"path_bytes(max_parts={max_parts})", lambda: st.tuples(
        st.booleans(), st.lists(part, min_size=1, max_size=max_parts), st.booleans()).map(
        lambda t: (b"/" if t[0] else b"") + b"/".join(t[1]) + (b"/" if t[2] else b"")))
