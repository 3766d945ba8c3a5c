"""The contract's data model: what a [contract] table says once checked against the header
(harness.contract.spec reads and validates it), and the C type helpers both sides use."""

from __future__ import annotations

import functools
from collections.abc import Container
from dataclasses import dataclass, field

from harness.target.header import HeaderApi, Signature

RETURN_KINDS = ("value", "static", "owned", "borrowed")
CHAR_TYPES = ("char", "signed char", "unsigned char")
BYTE_TYPES = (*CHAR_TYPES, "void", "uint8_t", "int8_t")  # a buffer of these counts bytes
FUNCTION_KEYS = {"returns", "owner", "until", "free", "length", "buffers", "out_buffers", "takes", "nullable",
                 "ranges", "keeps", "outputs", "callback", "user_data", "release", "ends", "reentrant",
                 "registration_id", "child_of"}

@dataclass(frozen=True)
class Lifetime:
    """What a returned pointer (or a T ** out-parameter) is, and who ends it."""

    kind: str = "value"
    free: str | None = None
    owner: str | None = None
    until: tuple[str, ...] = ()
    length: str | None = None


@dataclass(frozen=True)
class Registration:
    """A callback registration: which parameters form it and which calls end it."""

    callback: str
    user_data: str | None = None
    release: str | None = None
    ends: tuple[tuple[str, str], ...] = ()  # (function, its parameter that takes the registration id)
    reentrant: tuple[str, ...] = ()  # functions the callback may call while it runs


@dataclass(frozen=True)
class CallbackContract:
    """What the driver may read of the arguments C passes to a callback of one type."""

    ctype: str
    user_data: str | None = None
    strings: tuple[str, ...] = ()
    buffers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class FunctionContract:
    """The contract of one function, with the header's defaults filled in."""

    signature: Signature
    returns: Lifetime = Lifetime()
    buffers: tuple[tuple[str, str], ...] = ()
    out_buffers: tuple[tuple[str, str], ...] = ()
    takes: tuple[str, ...] = ()
    nullable: tuple[str, ...] = ()
    outputs: tuple[tuple[str, Lifetime], ...] = ()
    registration: Registration | None = None
    ranges: tuple[tuple[str, int, int], ...] = ()  # (integer parameter, lowest, highest valid value)
    keeps: tuple[tuple[str, str], ...] = ()  # (input the library keeps using, the handle parameter keeping it)
    child_of: tuple[tuple[str, str], ...] = ()  # (handle parameter, the parameter it must be borrowed from)

    @functools.cached_property
    def name(self) -> str:  # cached: read on every call the sequence driver makes
        return self.signature.name


@dataclass(frozen=True)
class HandleType:
    """An opaque handle type: `name *` values made by `new`, ended by `free`."""

    name: str
    new: tuple[str, ...]
    free: str


@dataclass(frozen=True)
class Contract:
    """The whole API contract: handle types and every callable function."""

    handles: dict[str, HandleType]
    functions: dict[str, FunctionContract]
    skipped: tuple[str, ...] = ()
    api: HeaderApi = field(default_factory=lambda: HeaderApi({}, frozenset(), frozenset(), {}))
    callbacks: dict[str, CallbackContract] = field(default_factory=dict)  # every function-pointer type
    free: str | None = None  # [contract].free: the default release of owned results
    # every function the spec names as a `free` of some result, a skipped function's included
    releasers: frozenset[str] = frozenset()

    @property
    def function_pointers(self) -> frozenset[str]:
        return self.api.function_pointers

    @property
    def integer_types(self) -> frozenset[str]:
        """Type names the header makes integers (enums, integer typedefs)."""
        return self.api.integer_types

    def handle_of(self, ctype: str) -> HandleType | None:
        """The handle type a C type text points to ('const cfg_doc *' -> cfg_doc), or None."""
        name = handle_name(ctype, self.handles)
        return self.handles[name] if name is not None else None

    def destructor_of(self, function: str) -> HandleType | None:
        """The handle type `function` destroys, or None."""
        return next((h for h in self.handles.values() if h.free == function), None)


@functools.lru_cache(maxsize=4096)
def pointee(ctype: str) -> str | None:
    """'const cfg_doc *' -> 'cfg_doc'; None for non-pointers."""
    if "*" not in ctype or "(" in ctype:
        return None
    words = [w for w in ctype.replace("*", " ").split() if w not in ("const", "volatile", "struct", "restrict")]
    return " ".join(words) or None


def handle_name(ctype: str, known: Container[str]) -> str | None:
    """The handle type a C type text is one pointer to ('const cfg_doc *' -> 'cfg_doc') when it is
    among known handle type names, else None."""
    base = pointee(ctype)
    return base if base is not None and base in known and ctype.count("*") == 1 else None


