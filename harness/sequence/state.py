"""What the sequence driver keeps during one input: the decisions' source, live handles,
callback registrations and borrowed results, and how each parameter is filled."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.contract.model import Lifetime
from harness.engine.data_provider import DataProvider
from harness.engine.recovery import ContractViolation


class Choices(Protocol):
    """Where a sequence's decisions come from."""

    def int(self, low: int, high: int) -> int: ...
    def bytes(self, max_len: int) -> bytes: ...
    def remaining(self) -> int: ...


class FuzzedChoices:
    """Decisions from libFuzzer's input, decoded as atheris's FuzzedDataProvider does."""

    def __init__(self, data: bytes) -> None:
        self.fdp = DataProvider(data)

    def int(self, low: int, high: int) -> int:
        return self.fdp.ConsumeIntInRange(low, high) if high > low else low

    def bytes(self, max_len: int) -> bytes:
        return self.fdp.ConsumeBytes(self.fdp.ConsumeIntInRange(0, max_len))

    def remaining(self) -> int:
        return self.fdp.remaining_bytes()


class SkipCall(Exception):
    """The call cannot be made with what is live (no handle a parameter may get): skip it."""


@dataclass(eq=False)
class Handle:
    """A live handle the driver made (and will destroy once)."""

    type: str
    pointer: Any
    made_by: str
    kept: list[Any] = field(default_factory=list)  # inputs the library keeps using until this is freed
    # a borrowed handle (a child the library lends): from this handle, ended when it ends or one
    # of until is called on it; never freed or handed over by the driver
    owner: Handle | None = None
    until: tuple[str, ...] = ()
    borrowed: bool = False
    serial: int = 0  # the how-manieth handle this input made (records and the native loop number them alike)

    def within(self, other: Handle) -> bool:
        """True when this handle is other, or was borrowed from it (at any depth)."""
        handle: Handle | None = self
        while handle is not None:
            if handle is other:
                return True
            handle = handle.owner
        return False


@dataclass(eq=False)
class LiveRegistration:
    """A callback registration made during this input (contract.Registration says how to make one)."""

    id: int
    owner: Handle | None
    function: str
    has_release: bool
    token: Any
    ended: bool = False
    released: int = 0


@dataclass(eq=False)
class Borrow:
    """A borrowed result, with the bytes it held, valid until one of `until` is called."""

    function: str
    owner: Handle | None
    until: tuple[str, ...]
    pointer: Any
    read: Callable[[], bytes]
    snapshot: bytes


@dataclass
class RunState:
    """Everything live during one input."""

    handles: list[Handle] = field(default_factory=list)
    registrations: dict[int, LiveRegistration] = field(default_factory=dict)  # by user_data address
    borrows: list[Borrow] = field(default_factory=list)
    strings: list[bytes] = field(default_factory=list)
    last_result: bytes | None = None  # what the last call that handed bytes back handed back
    ints: list[int] = field(default_factory=list)
    keep: list[Any] = field(default_factory=list)
    calling: str = ""
    previous: str = ""  # the function called last (for observe)
    edited: int = 0  # the call being made is given edited reused bytes: values.edited_field (observe)
    depth: int = 0  # > 0 while a callback makes a reentrant call
    deferred: list[LiveRegistration] = field(default_factory=list)  # ended inside a callback, release may wait
    choices: Choices | None = None  # the input being run, for calls made from callbacks
    ending: set[int] = field(default_factory=set)  # registrations the current call may release
    lent: int = 0  # borrowed handles among handles
    made: int = 0  # handles made so far (the last one's serial)
    violation: ContractViolation | None = None

    def flag(self, kind: str, detail: str, function: str | None = None) -> None:
        if self.violation is None:
            self.violation = ContractViolation(kind, detail, function or self.calling)


@dataclass(frozen=True)
class Arg:
    """How one parameter is filled: role plus what the role needs."""

    name: str
    ctype: str
    role: str
    other: str | None = None
    lifetime: Lifetime | None = None
    taken: bool = False  # a handle the call takes over (`takes`): no longer the driver's afterwards
    bounds: tuple[int, int] | None = None  # an integer's valid values (`ranges`), both ends included
    owner_type: str | None = None  # a `child_of` handle: the handle type it must be borrowed from

