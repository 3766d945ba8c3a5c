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

from collections.abc import Callable
from typing import Any

from harness.contract.model import Contract, FunctionContract
from harness.engine.recovery import ContractViolation
from harness.sequence.callbacks import CallbackMixin
from harness.sequence.plan import PlanShape, plan_all
from harness.sequence.results import ResultMixin
from harness.sequence.state import Arg, Choices, FuzzedChoices, Handle, RunState, SkipCall
from harness.sequence.trace import outcome, print_call, record_call
from harness.sequence.values import ValueMixin, check_ranges

__all__ = ["Choices", "FuzzedChoices", "SequenceDriver"]

MAX_STEPS = 48


class SequenceDriver(ValueMixin, CallbackMixin, ResultMixin):
    """Calls the functions of a contract in valid sequences; one run per input."""

    def __init__(self, contract: Contract, ffi: Any, lib: Any, max_steps: int = MAX_STEPS,
                 trace: bool = False, observe: Callable[[str], None] | None = None) -> None:
        self.contract, self.ffi, self.lib, self.max_steps = contract, ffi, lib, max_steps
        self.trace = trace  # print every call (as C) to stderr before making it
        # told "F:outcome" and "PREVIOUS>F:outcome" after each call (feedback for fuzzers
        # whose library has no coverage instrumentation)
        self.observe = observe
        self.record: list[str] | None = None  # when a list, each call is added as record_call writes it
        self.state = RunState()
        self.plans, self.skipped = plan_all(contract)
        check_ranges(ffi, self.plans)
        self.shapes = {name: PlanShape.of(plan) for name, plan in self.plans.items()}
        self.steps = [contract.functions[name] for name in self.plans]
        self._destroys = {h.free: h for h in contract.handles.values()}
        self._callbacks, self._release_externs = self._install_callbacks()

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
            if handle in state.handles and not handle.borrowed:
                self._destroy(handle)
        self.state = RunState()
        return pending or state.violation

    def _step(self, fc: FunctionContract, choices: Choices) -> None:
        shape = self.shapes[fc.name]
        owned = fc.name in self._destroys  # a destructor's handle is one the driver owns
        for other in shape.handles:
            if not self._live(other, owned) and not self._construct(other, choices):
                return
        for other, needed in shape.taken:  # a handle handed over must not be one the call also uses otherwise
            if len(self._live(other, owned=True)) < needed and not self._construct(other, choices):
                return
        values: dict[str, Any] = {}
        self.state.edited = 0
        try:
            for arg in shape.first:
                values[arg.name] = self._value(fc, arg, choices, values)
            for arg in shape.second:
                values[arg.name] = self._value(fc, arg, choices, values)
        except SkipCall:
            return
        self._call(fc, self.plans[fc.name], values)

    def _live(self, handle_type: str | None, owned: bool = False) -> list[Handle]:
        """The live handles of a type; with owned, only those the driver made (not borrowed)."""
        if owned and self.state.lent:
            return [h for h in self.state.handles if h.type == handle_type and not h.borrowed]
        return [h for h in self.state.handles if h.type == handle_type]

    def _construct(self, handle_type: str | None, choices: Choices) -> bool:
        handle = self.contract.handles[handle_type] if handle_type else None
        makers = [self.contract.functions[n] for n in handle.new if n in self.plans] if handle else []
        makers = [m for m in makers if all(a.role != "handle" or self._live(a.other) for a in self.plans[m.name])
                  and not self.shapes[m.name].children]
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

    # -- handles that end --------------------------------------------------------------
    def _ending_handles(self, fc: FunctionContract, shape: PlanShape | None, values: dict[str, Any],
                        handles: list[Handle], target: Handle | None) -> list[Handle]:
        """The handles this call ends: the one it destroys, those it is handed, and borrowed
        ones it invalidates (`until`). A registration on something borrowed from them is no
        longer judged from here on: the library may end it with the object, or keep it."""
        state = self.state
        gone = [target] if target is not None else []
        gone += [v for v in (values[n] for n in (shape.taken_names if shape else ())) if isinstance(v, Handle)]
        if state.lent:  # by address: two handles may be one object (dt_get and dt_child of one child)
            touched = {int(self.ffi.cast("uintptr_t", g.pointer)) for g in handles}
            gone += [h for h in state.handles if h.borrowed and ("*" in h.until or (
                fc.name in h.until and h.owner is not None
                and int(self.ffi.cast("uintptr_t", h.owner.pointer)) in touched))]
            for key, reg in list(state.registrations.items()):
                owner = reg.owner
                if owner is not None and owner.borrowed and any(owner.within(g) for g in gone):
                    del state.registrations[key]
                    state.keep.append(reg.token)
        return gone

    def _forget(self, gone: list[Handle], destroyed: Handle | None) -> None:
        """Drop handles that ended and everything borrowed from them, with the borrows they own.
        What a handle kept stays alive to the input's end unless the handle was destroyed."""
        state = self.state
        dead = [h for h in state.handles if any(h.within(g) for g in gone)] if state.lent else \
            [h for h in gone if h in state.handles]
        for handle in dead:
            state.handles.remove(handle)
            state.lent -= handle.borrowed
            if handle is not destroyed:
                state.keep += handle.kept  # whoever has it now may free it as late as the input's end
        state.borrows = [b for b in state.borrows if not any(b.owner is h for h in dead)]

    # -- the call ------------------------------------------------------------------------
    def _call(self, fc: FunctionContract, plan: list[Arg], values: dict[str, Any]) -> None:
        ffi, state = self.ffi, self.state
        shape = self.shapes.get(fc.name)
        handles = [v for v in values.values() if isinstance(v, Handle)]
        target = handles[0] if handles and fc.name in self._destroys else None
        if target is not None:
            state.ending = {id(r) for r in state.registrations.values() if r.owner is target and not r.ended}
        ending_ids = {values[name] for name in shape.registration_ids} if shape and shape.registration_ids else ()
        ended = [r for r in state.registrations.values()
                 if not r.ended and r.id in ending_ids and (r.owner is None or r.owner in handles)] \
            if ending_ids else []
        if ended:
            state.ending |= {id(r) for r in ended}
        gone = self._ending_handles(fc, shape, values, handles, target)
        args = [v.pointer if isinstance(v, Handle) else ffi.NULL if v is None else v
                for v in (values[a.name] for a in plan)]
        if self.trace:
            print_call(self.ffi, fc, plan, values)
        state.calling = fc.name
        result = getattr(self.lib, fc.name)(*args)
        if self.observe is not None:
            event = f"{fc.name}:{outcome(ffi, result)}{'~edited' if state.edited else ''}"
            self.observe(f"{event}@{state.edited}" if state.edited else event)  # which field
            self.observe(f"{state.previous}>{event}")
            state.previous = fc.name
        for param, owner in fc.keeps:  # alive until its keeper is freed (the buffers free themselves)
            keeper = values.get(owner)
            (keeper.kept if isinstance(keeper, Handle) and keeper is not target else state.keep).append(values[param])
        if target is not None:
            ended += [r for r in state.registrations.values() if r.owner is target and not r.ended]
        if gone:
            self._forget(gone, target)
        for reg in ended:
            reg.ended = True
        if state.depth:  # inside a callback: the release may come when the dispatch returns
            state.deferred += ended
        elif ended or state.deferred:
            for reg in ended + state.deferred:
                if reg.has_release and reg.released == 0:
                    state.flag("destructor-not-called", f"the registration made by {reg.function} ended "
                               "without its release function being called")
            state.deferred = []
        state.ending = set()
        if state.borrows:
            self._check_borrows(fc, handles, target)
        before = state.made
        self._take_result(fc, plan, values, result, handles)
        if self.record is not None:
            self.record.append(record_call(ffi, fc, plan, values, result, range(before + 1, state.made + 1)))
        state.calling = ""

