"""What the sequence driver does with a call's results: owned results read and freed, borrowed
ones remembered and checked for changes while the contract says they are valid, new handles
and registrations kept."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from harness.contract.model import FunctionContract, HandleType, Lifetime
from harness.sequence.plan import CHAR_TYPES
from harness.sequence.state import Arg, Borrow, Handle, LiveRegistration
from harness.sequence.values import POOL

MAX_BORROWS = 8


# what an input gives a call: its objects and its data (a result of a call given only integers,
# capacities and out-cells can only come from those integers or from state outside the input)
INPUT_ROLES = frozenset({"handle", "child", "parent_of", "cstring", "takes", "buffer", "registration_id"})


def remembers(plan: list[Arg]) -> bool:
    """Whether what a call returns is kept for later arguments: only when the call is given one
    of the input's objects or data. A call given nothing, or only integers and room for its
    answer, returns a constant or state from outside the input (kv_last_error's message an
    earlier input left, kv_last_error_copy's status that depends on its length): kept, it made
    an input call differently after other inputs, and a crash found that way did not replay."""
    return any(arg.role in INPUT_ROLES for arg in plan)


class ResultMixin:
    """SequenceDriver's result handling (uses its contract, ffi, lib, state, _remember)."""

    def _check_borrows(self, fc: FunctionContract, handles: list[Handle], destroyed: Handle | None) -> None:
        kept = []
        for borrow in self.state.borrows:
            # the owner, or another handle of the same object (one child lent through two handles)
            owner_touched = borrow.owner is None or any(h is borrow.owner or h.pointer == borrow.owner.pointer
                                                        for h in handles)
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
        if isinstance(result, int) and len(state.ints) < POOL and remembers(plan):
            state.ints.append(result)
        reg = fc.registration
        if reg is not None and (result > 0 if isinstance(result, int) else result != ffi.NULL):
            token = values.get(reg.user_data) if reg.user_data else None
            has_release = bool(reg.release) and values.get(reg.release, ffi.NULL) != ffi.NULL
            registration = LiveRegistration(int(result) if isinstance(result, int) else 0,
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
        if handle_type is not None and self._take_handle(fc, handle_type, lifetime, pointer, values, handles):
            return
        read = self._reader(pointer, values.get(lifetime.length) if lifetime.length else None)
        if lifetime.kind == "owned":
            if remembers(self.plans[fc.name]):
                self._remember(read(), result=True)
            free = getattr(self.lib, lifetime.free)
            free(ffi.cast(ffi.typeof(free).args[0], pointer))
        elif lifetime.kind in ("borrowed", "static"):
            snapshot = read()
            if remembers(self.plans[fc.name]):
                self._remember(snapshot, result=True)
            if lifetime.kind == "borrowed":
                self.state.borrows = [*self.state.borrows[-(MAX_BORROWS - 1):], Borrow(
                    fc.name, _lender(lifetime, values, handles), lifetime.until, pointer, read, snapshot)]

    def _take_handle(self, fc: FunctionContract, handle_type: HandleType, lifetime: Lifetime, pointer: Any,
                     values: dict[str, Any], handles: list[Handle]) -> bool:
        """Keep a handle-typed result as a live handle: owned (a constructor's, or owned and ended
        by the type's destructor) or borrowed (static, or from its owner until `until`). False
        for an owned result freed some other way: read and freed like any owned result."""
        state = self.state
        if fc.name in handle_type.new or (lifetime.kind == "owned" and lifetime.free == handle_type.free):
            # an object the library lent before and now hands over (detached) is no longer a borrow
            lent = [h for h in state.handles if h.borrowed and h.pointer == pointer] if state.lent else []
            if lent:
                self._forget(lent, None)
            state.made += 1
            state.handles.append(Handle(handle_type.name, pointer, fc.name, serial=state.made))
            return True
        if lifetime.kind == "owned":
            return False
        borrowed = lifetime.kind == "borrowed"  # else static: lent for the whole input
        state.made += 1
        state.handles.append(Handle(handle_type.name, pointer, fc.name, borrowed=True, serial=state.made,
                                    owner=_lender(lifetime, values, handles) if borrowed else None,
                                    until=lifetime.until if borrowed else ()))
        state.lent += 1
        return True

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



def _lender(lifetime: Lifetime, values: dict[str, Any], handles: list[Handle]) -> Handle | None:
    """The handle a borrowed result is borrowed from: its `owner` parameter, else the call's first handle."""
    given = values.get(lifetime.owner) if lifetime.owner else None
    return given if isinstance(given, Handle) else (handles[0] if handles else None)
