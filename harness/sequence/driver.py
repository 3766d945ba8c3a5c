"""The contract-driven sequence driver: any C API fuzzed from its header and ownership contract.

Each input is decoded (through a Choices source, e.g. a FuzzedDataProvider)
into a sequence of calls with boundary-data arguments. The driver keeps the contract itself -
every handle and owned result freed exactly once, user_data alive until its registration ends,
borrowed pointers used only while valid - so every sanitizer report is the library's bug. What
sanitizers cannot see, the driver checks and raises as a ContractViolation of its own kind:

    borrowed-changed            a borrowed result changed while the contract says it is valid
    callback-after-unregister   a callback arrived after its registration ended
    destructor-not-called       a registration ended without its release/destroy function
    destructor-called-twice     a release function called twice for one registration
    destructor-called-early     a release function called while its registration was live
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.contract.spec import Contract, FunctionContract, Lifetime, is_integer, pointee
from harness.engine.data_provider import DataProvider
from harness.engine.driving import exact_buffer
from harness.engine.recovery import ContractViolation

MAX_STEPS = 48
MAX_BYTES = 96
MAX_BORROWS = 8
POOL = 16
CHAR_TYPES = ("char", "signed char", "unsigned char")


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


@dataclass(eq=False)
class Handle:
    type: str
    pointer: Any
    made_by: str


@dataclass(eq=False)
class Registration:
    id: int
    owner: Handle | None
    function: str
    has_release: bool
    token: Any
    ended: bool = False
    released: int = 0


@dataclass(eq=False)
class Borrow:
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
    registrations: dict[int, Registration] = field(default_factory=dict)  # by user_data address
    borrows: list[Borrow] = field(default_factory=list)
    strings: list[bytes] = field(default_factory=list)
    ints: list[int] = field(default_factory=list)
    keep: list[Any] = field(default_factory=list)
    calling: str = ""
    previous: str = ""  # the function called last (for observe)
    depth: int = 0  # > 0 while a callback makes a reentrant call
    deferred: list[Registration] = field(default_factory=list)  # ended inside a callback, release may wait
    choices: Choices | None = None  # the input being run, for calls made from callbacks
    ending: set[int] = field(default_factory=set)  # registrations the current call may release
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


class SequenceDriver:
    """Calls the functions of a contract in valid sequences; one run per input."""

    def __init__(self, contract: Contract, ffi: Any, lib: Any, max_steps: int = MAX_STEPS,
                 trace: bool = False, observe: Callable[[str], None] | None = None) -> None:
        self.contract, self.ffi, self.lib, self.max_steps = contract, ffi, lib, max_steps
        self.trace = trace  # print every call (as C) to stderr before making it
        # told "F:outcome" and "PREVIOUS>F:outcome" after each call (feedback for fuzzers
        # whose library has no coverage instrumentation)
        self.observe = observe
        self.state = RunState()
        self.skipped: dict[str, str] = {}
        releasers = {f.returns.free for f in contract.functions.values()}
        releasers |= {lt.free for f in contract.functions.values() for _, lt in f.outputs}
        releasers -= {h.free for h in contract.handles.values()}
        self.plans: dict[str, list[Arg]] = {}
        for fc in contract.functions.values():
            if fc.name in releasers:
                continue
            try:
                self.plans[fc.name] = self._plan(fc)
            except _Unsupported as why:
                self.skipped[fc.name] = str(why)
        self.steps = [contract.functions[name] for name in self.plans]
        self._callbacks, self._release_externs = self._install_callbacks()

    # -- planning ------------------------------------------------------------------------
    def _plan(self, fc: FunctionContract) -> list[Arg]:
        roles: dict[str, Arg] = {}
        sig = fc.signature
        for ptr, length in fc.buffers:
            roles[ptr] = Arg(ptr, sig.param(ptr).ctype, "buffer", length)
            roles[length] = Arg(length, sig.param(length).ctype, "length_of", ptr)
        for ptr, cap in fc.out_buffers:
            roles[ptr] = Arg(ptr, sig.param(ptr).ctype, "out_buffer", cap)
            roles[cap] = Arg(cap, sig.param(cap).ctype, "capacity_of", ptr)
        reg = fc.registration
        if reg is not None:
            roles[reg.callback] = Arg(reg.callback, sig.param(reg.callback).ctype, "callback")
            if reg.user_data:
                roles[reg.user_data] = Arg(reg.user_data, "void *", "user_data")
            if reg.release:
                roles[reg.release] = Arg(reg.release, sig.param(reg.release).ctype, "release")
        for other in self.contract.functions.values():
            if other.registration is None:
                continue
            for function, param in other.registration.ends:
                if function == fc.name:
                    roles[param] = Arg(param, sig.param(param).ctype, "registration_id", other.name)
        outputs = dict(fc.outputs)
        if fc.returns.length:
            roles.setdefault(fc.returns.length, Arg(fc.returns.length, sig.param(fc.returns.length).ctype, "cell"))
        plan = []
        for param in sig.params:
            if param.name in roles:
                plan.append(roles[param.name])
                continue
            plan.append(self._default_arg(fc, param.name, param.ctype, outputs.get(param.name)))
        return plan

    def _default_arg(self, fc: FunctionContract, name: str, ctype: str, output: Lifetime | None) -> Arg:
        base = pointee(ctype)
        if ctype in self.contract.function_pointers:
            return Arg(name, ctype, "callback_sync")
        if (handle := self.contract.handle_of(ctype)) is not None:
            return Arg(name, ctype, "handle", handle.name)
        if name in fc.takes:
            return Arg(name, ctype, "takes")
        if ctype.count("*") >= 2:
            return Arg(name, ctype, "out_pointer", lifetime=output)
        if base is not None and ctype.count("*") == 1:
            if base in CHAR_TYPES:
                return Arg(name, ctype, "cstring")
            if is_integer(base, self.contract.enums) and not ctype.startswith("const"):
                return Arg(name, ctype, "cell")
            raise _Unsupported(f"parameter {name} ({ctype}) needs a contract entry (buffers, out_buffers, "
                               "user_data, outputs)")
        if is_integer(ctype, self.contract.enums):
            return Arg(name, ctype, "int")
        if ctype in ("float", "double"):
            return Arg(name, ctype, "float")
        raise _Unsupported(f"parameter {name} ({ctype}) has no generator")

    # -- callbacks -----------------------------------------------------------------------
    def _install_callbacks(self) -> tuple[dict[str, Any], set[str]]:
        """One `extern "Python"` implementation per function-pointer type (see harness.build):
        (type text -> the lib's callback, names of the callbacks that serve as release functions)."""
        release_types = {self.contract.functions[f].signature.param(r.release).ctype  # type: ignore[union-attr]
                         for f, r in ((f.name, f.registration) for f in self.contract.functions.values())
                         if r is not None and r.release}
        installed: dict[str, Any] = {}
        release_externs: set[str] = set()
        for ctype, (name, _decl) in self.contract.api.callback_externs().items():
            if ctype in release_types:
                release_externs.add(name)
            implementation = getattr(self.lib, name, None)
            if implementation is None:
                continue
            _bind_extern(self.ffi, name, self._on_callback)
            installed[ctype] = implementation
        return installed, release_externs

    def _on_callback(self, name: str, args: tuple[Any, ...]) -> None:
        state = self.state
        ffi = self.ffi
        cdata = [a if isinstance(a, ffi.CData) else None for a in args]
        token = next((a for a in cdata if a is not None and ffi.typeof(a).cname == "void *"), None)
        reg = state.registrations.get(int(ffi.cast("uintptr_t", token))) if token is not None else None
        is_release = name in self._release_externs
        for index, arg in enumerate(args):  # read what C hands over, as a callee would
            if cdata[index] is None or arg == ffi.NULL:
                continue
            kind = ffi.typeof(arg)
            following = args[index + 1] if index + 1 < len(args) else None
            if kind.kind != "pointer" or kind.item.cname not in (*CHAR_TYPES, "uint8_t"):
                continue
            if isinstance(following, int):
                self._remember(ffi.buffer(arg, following)[:])
            elif kind.item.cname in CHAR_TYPES:
                self._remember(ffi.string(arg))
        if reg is None:
            return
        if is_release and reg.has_release:
            reg.released += 1
            if reg.released > 1:
                state.flag("destructor-called-twice", f"release of the registration made by {reg.function} "
                           f"called {reg.released} times")
            elif id(reg) not in state.ending:
                state.flag("destructor-called-early", f"release of the registration made by {reg.function} "
                           "called while it was still registered")
            return
        if reg.ended:
            state.flag("callback-after-unregister", f"callback registered by {reg.function} called after the "
                       "registration ended")
        elif state.choices is not None:
            self._reenter(reg, state.choices)

    def _reenter(self, reg: Registration, choices: Choices) -> None:
        """Maybe make one of the calls the contract allows from inside this callback."""
        contract = self.contract.functions[reg.function].registration
        names = [n for n in (contract.reentrant if contract else ()) if n in self.plans]
        state = self.state
        if not names or state.depth or choices.remaining() <= 0 or choices.int(0, 3) != 0:
            return
        calling, ending = state.calling, state.ending
        state.depth += 1
        try:
            self._step(self.contract.functions[names[choices.int(0, len(names) - 1)]], choices)
        finally:
            state.depth -= 1
            # what the inner call ended may be released until the outer call returns
            state.calling, state.ending = calling, ending | {id(r) for r in state.deferred}

    # -- one input -----------------------------------------------------------------------
    def run(self, choices: Choices) -> None:
        """Run the calls an input decodes to; raise the first ContractViolation at the end."""
        self.begin(choices)
        try:
            for _ in range(self.max_steps):
                if choices.remaining() <= 0 or not self.steps:
                    break
                fc = self.steps[choices.int(0, len(self.steps) - 1)]
                self._step(fc, choices)
                if self.state.violation is not None:
                    break
        finally:
            violation = self.end()
        if violation is not None:
            raise violation

    def begin(self, choices: Choices | None = None) -> None:
        """Start a new sequence: no handles, registrations or remembered values."""
        self.state = RunState(choices=choices)

    def call(self, name: str, choices: Choices) -> ContractViolation | None:
        """One step of a sequence: call `name` (constructing the handles it needs) with
        arguments from choices; the contract violation it revealed, if any."""
        self.state.choices = choices
        self._step(self.contract.functions[name], choices)
        return self.state.violation

    def end(self) -> ContractViolation | None:
        """Destroy the handles still alive, end the sequence; its first contract violation."""
        state = self.state
        pending = state.violation
        state.choices = None  # no calls from callbacks while tearing down
        for handle in reversed(list(state.handles)):
            if handle in state.handles:
                self._destroy(handle)
        self.state = RunState()
        return pending or state.violation

    def _step(self, fc: FunctionContract, choices: Choices) -> None:
        plan = self.plans[fc.name]
        for arg in plan:
            if arg.role == "handle" and not self._live(arg.other) and not self._construct(arg.other, choices):
                return
        values: dict[str, Any] = {}
        for arg in plan:
            if arg.role not in ("length_of", "capacity_of", "registration_id"):
                values[arg.name] = self._value(fc, arg, choices, values)
        for arg in plan:
            if arg.role in ("length_of", "capacity_of", "registration_id"):
                values[arg.name] = self._value(fc, arg, choices, values)
        self._call(fc, plan, values)

    def _live(self, handle_type: str | None) -> list[Handle]:
        return [h for h in self.state.handles if h.type == handle_type]

    def _construct(self, handle_type: str | None, choices: Choices) -> bool:
        handle = self.contract.handles[handle_type] if handle_type else None
        makers = [self.contract.functions[n] for n in handle.new if n in self.plans] if handle else []
        makers = [m for m in makers if all(a.role != "handle" or self._live(a.other) for a in self.plans[m.name])]
        if not makers:
            return False
        self._step(makers[choices.int(0, len(makers) - 1)], choices)
        return bool(self._live(handle_type))

    def _destroy(self, handle: Handle) -> None:
        free = self.contract.handles[handle.type].free
        fc = self.contract.functions[free]
        values = {arg.name: self.ffi.NULL for arg in self.plans.get(free, [])}
        values[fc.signature.params[0].name] = handle
        self._call(fc, self.plans.get(free, []), values)

    # -- arguments -----------------------------------------------------------------------
    def _value(self, fc: FunctionContract, arg: Arg, choices: Choices, values: dict[str, Any]) -> Any:
        ffi, lib, state = self.ffi, self.lib, self.state
        role = arg.role
        if role == "handle":
            live = self._live(arg.other)
            if arg.name in fc.nullable and choices.int(0, 15) == 0:
                return None
            return live[choices.int(0, len(live) - 1)]
        if role == "cstring":
            if arg.name in fc.nullable and choices.int(0, 15) == 0:
                return ffi.NULL
            text = self._text(choices).replace(b"\0", b"")
            values[f"#show:{arg.name}"] = _c_literal(text)
            return exact_buffer(ffi, lib, text + b"\0", arg.ctype)
        if role == "takes":
            if arg.name in fc.nullable and choices.int(0, 15) == 0:
                return ffi.NULL
            data = self._text(choices).replace(b"\0", b"") + b"\0"
            values[f"#show:{arg.name}"] = f"strdup({_c_literal(data[:-1])})"
            pointer = ffi.cast(arg.ctype, lib.malloc(len(data)))
            ffi.memmove(pointer, data, len(data))
            return pointer
        if role == "buffer":
            data = self._text(choices)
            values[f"#len:{arg.name}"] = len(data)
            values[f"#show:{arg.name}"] = _c_literal(data)
            if arg.name in fc.nullable and not data and choices.int(0, 3) == 0:
                return ffi.NULL
            if arg.name in fc.takes:  # malloc'd, and from now on the library's to free
                pointer = ffi.cast(arg.ctype, lib.malloc(max(len(data), 1)))
                ffi.memmove(pointer, data, len(data))
                return pointer
            return exact_buffer(ffi, lib, data, arg.ctype)
        if role == "length_of":
            return values[f"#len:{arg.other}"]
        if role == "out_buffer":
            cap = (0, 1, 2, 8, choices.int(0, 64), choices.int(0, 256))[choices.int(0, 5)]
            values[f"#cap:{arg.name}"] = cap
            return exact_buffer(ffi, lib, b"\xa5" * cap, arg.ctype)
        if role == "capacity_of":
            return values[f"#cap:{arg.other}"]
        if role in ("cell", "out_pointer"):
            return ffi.new(arg.ctype.replace("const ", "", 1) if arg.ctype.startswith("const ") else arg.ctype)
        if role == "int":
            return self._int(arg.ctype, choices)
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
        """Fresh bytes, or (often) bytes this input passed or got back before, so keys meet again."""
        pool = self.state.strings
        if pool and choices.int(0, 2) == 0:
            return pool[choices.int(0, len(pool) - 1)]
        data = choices.bytes(MAX_BYTES)
        self._remember(data)
        return data

    def _remember(self, data: bytes) -> None:
        """Keep bytes that crossed the boundary (either way) for later arguments."""
        pool = self.state.strings
        if len(data) <= MAX_BYTES and data not in pool:
            if len(pool) >= POOL:
                pool.pop(0)
            pool.append(data)

    def _int(self, ctype: str, choices: Choices) -> int:
        ffi = self.ffi
        size = ffi.sizeof(ctype)
        signed = int(ffi.cast(ctype, -1)) < 0
        low, high = (-(1 << (8 * size - 1)), (1 << (8 * size - 1)) - 1) if signed else (0, (1 << (8 * size)) - 1)
        pick = choices.int(0, 7)
        if pick == 0 and self.state.ints:
            value = self.state.ints[choices.int(0, len(self.state.ints) - 1)]
        elif pick <= 2:
            value = choices.int(0, 16)
        else:
            value = (0, 1, -1, high, low, choices.int(low, high))[pick - 2]
        return min(max(value, low), high)

    # -- the call ------------------------------------------------------------------------
    def _call(self, fc: FunctionContract, plan: list[Arg], values: dict[str, Any]) -> None:
        ffi, state = self.ffi, self.state
        handles = [v for v in values.values() if isinstance(v, Handle)]
        destroys = self.contract.destructor_of(fc.name)
        target = handles[0] if destroys and handles else None
        if target is not None:
            state.ending = {id(r) for r in state.registrations.values() if r.owner is target and not r.ended}
        ending_ids = {values[a.name] for a in plan if a.role == "registration_id"}
        ended = [r for r in state.registrations.values()
                 if not r.ended and r.id in ending_ids and (r.owner is None or r.owner in handles)]
        state.ending |= {id(r) for r in ended}
        args = [v.pointer if isinstance(v, Handle) else ffi.NULL if v is None else v
                for v in (values[a.name] for a in plan)]
        if self.trace:
            self._print_call(fc, plan, values)
        state.calling = fc.name
        result = getattr(self.lib, fc.name)(*args)
        if self.observe is not None:
            event = f"{fc.name}:{_outcome(ffi, result)}"
            self.observe(event)
            self.observe(f"{state.previous}>{event}")
            state.previous = fc.name
        if target is not None:
            state.handles.remove(target)
            ended += [r for r in state.registrations.values() if r.owner is target and not r.ended]
        for reg in ended:
            reg.ended = True
        if state.depth:  # inside a callback: the release may come when the dispatch returns
            state.deferred += ended
        else:
            for reg in ended + state.deferred:
                if reg.has_release and reg.released == 0:
                    state.flag("destructor-not-called", f"the registration made by {reg.function} ended "
                               "without its release function being called")
            state.deferred = []
        state.ending = set()
        self._check_borrows(fc, handles, target)
        self._take_result(fc, plan, values, result, handles)
        state.calling = ""

    def _print_call(self, fc: FunctionContract, plan: list[Arg], values: dict[str, Any]) -> None:
        shown = []
        for arg in plan:
            value = values[arg.name]
            if isinstance(value, Handle):
                shown.append(f"{value.type}#{id(value) % 10007}")
            elif f"#show:{arg.name}" in values:
                shown.append(values[f"#show:{arg.name}"])
            elif arg.role in ("cell", "out_pointer"):
                shown.append(f"&{arg.name}")
            elif arg.role in ("callback", "callback_sync", "release", "user_data"):
                shown.append(arg.role if value is not None and value != self.ffi.NULL else "NULL")
            else:
                shown.append(str(value))
        sys.stderr.write(f"ffi-harness sequence: {fc.name}({', '.join(shown)})\n")
        sys.stderr.flush()

    def _check_borrows(self, fc: FunctionContract, handles: list[Handle], destroyed: Handle | None) -> None:
        kept = []
        for borrow in self.state.borrows:
            owner_touched = borrow.owner is None or borrow.owner in handles
            if borrow.owner is destroyed and destroyed is not None:
                continue
            if "*" in borrow.until or (owner_touched and fc.name in borrow.until):
                continue
            # inside a callback the outer call is still running and may end the borrow
            if not self.state.depth and borrow.read() != borrow.snapshot:
                self.state.flag("borrowed-changed", f"the result of {borrow.function} changed during "
                                f"{fc.name} although the contract says it is still valid", borrow.function)
                continue
            kept.append(borrow)
        self.state.borrows = kept

    def _take_result(self, fc: FunctionContract, plan: list[Arg], values: dict[str, Any], result: Any,
                     handles: list[Handle]) -> None:
        ffi, state = self.ffi, self.state
        if isinstance(result, int) and len(state.ints) < POOL:
            state.ints.append(result)
        reg = fc.registration
        if reg is not None and (result > 0 if isinstance(result, int) else result != ffi.NULL):
            token = values.get(reg.user_data) if reg.user_data else None
            has_release = bool(reg.release) and values.get(reg.release, ffi.NULL) != ffi.NULL
            registration = Registration(int(result) if isinstance(result, int) else 0,
                                        handles[0] if handles else None, fc.name, has_release, token)
            key = int(ffi.cast("uintptr_t", token)) if token is not None else -len(state.registrations) - 1
            state.registrations[key] = registration
        by_name = {a.name: values[a.name] for a in plan}
        if isinstance(result, ffi.CData) and ffi.typeof(result).kind == "pointer":
            self._take_pointer(fc, fc.returns, result, by_name, handles)
        for name, lifetime in fc.outputs:
            cell = by_name[name]
            self._take_pointer(fc, lifetime, cell[0], by_name, handles)

    def _take_pointer(self, fc: FunctionContract, lifetime: Lifetime, pointer: Any, values: dict[str, Any],
                      handles: list[Handle]) -> None:
        ffi = self.ffi
        if pointer == ffi.NULL:
            return
        handle_type = self.contract.handle_of(ffi.typeof(pointer).cname)
        if handle_type is not None and fc.name in handle_type.new:
            self.state.handles.append(Handle(handle_type.name, pointer, fc.name))
            return
        read = self._reader(pointer, values.get(lifetime.length) if lifetime.length else None)
        if lifetime.kind == "owned":
            self._remember(read())
            free = getattr(self.lib, lifetime.free)
            free(ffi.cast(ffi.typeof(free).args[0], pointer))
        elif lifetime.kind in ("borrowed", "static"):
            snapshot = read()
            self._remember(snapshot)
            if lifetime.kind == "borrowed":
                owner_param = values.get(lifetime.owner) if lifetime.owner else None
                owner = owner_param if isinstance(owner_param, Handle) else (handles[0] if handles else None)
                self.state.borrows = [*self.state.borrows[-(MAX_BORROWS - 1):],
                                      Borrow(fc.name, owner, lifetime.until, pointer, read, snapshot)]

    def _reader(self, pointer: Any, length_cell: Any) -> Callable[[], bytes]:
        ffi = self.ffi
        item = ffi.typeof(pointer).item
        if length_cell is not None:
            return lambda: ffi.buffer(pointer, int(length_cell[0]))[:]
        if item.cname in CHAR_TYPES:
            return lambda: ffi.string(ffi.cast("char *", pointer))
        with contextlib.suppress(ffi.error):
            size = ffi.sizeof(item)
            return lambda: ffi.buffer(pointer, size)[:]
        return lambda: b""


def _outcome(ffi: Any, result: Any) -> str:
    """A call's result reduced to a class: NULL or not, zero/negative or the bit length."""
    if isinstance(result, ffi.CData):
        return "null" if result == ffi.NULL else "ptr"
    if isinstance(result, bool) or not isinstance(result, int):
        return type(result).__name__
    if result < 0:
        return str(result) if result >= -4 else "neg"
    return f"b{result.bit_length()}"


class _Unsupported(Exception):
    pass


def _c_literal(data: bytes, limit: int = 48) -> str:
    """bytes as a C string literal, cut at limit."""
    body = "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\x{b:02x}" for b in data[:limit])
    return f'"{body}"' + ("..." if len(data) > limit else "")


_EXTERN_HANDLERS: dict[tuple[int, str], Callable[[str, tuple[Any, ...]], None]] = {}


def _bind_extern(ffi: Any, name: str, handler: Callable[[str, tuple[Any, ...]], None]) -> None:
    """Route the extern "Python" `name` to handler (def_extern may run once per ffi and name)."""
    key = (id(ffi), name)
    if key not in _EXTERN_HANDLERS:
        @ffi.def_extern(name=name)
        def _trampoline(*args: Any) -> None:
            _EXTERN_HANDLERS[key](name, args)
    _EXTERN_HANDLERS[key] = handler
