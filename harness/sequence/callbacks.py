"""Callbacks of the sequence driver: one `extern "Python"` implementation per function-pointer
type of the header, what it reads of the arguments C hands over, registrations' lifetimes
(release exactly once, nothing after unregister) and calls made from inside a callback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.contract.model import CallbackContract
from harness.sequence.state import Choices, LiveRegistration
from harness.sequence.values import element_size

CALLBACK_READ_LIMIT = 1 << 16  # bytes of a callback's buffer kept for later arguments

_EXTERN_HANDLERS: dict[tuple[int, str], Callable[[str, tuple[Any, ...]], None]] = {}


def bind_extern(ffi: Any, name: str, handler: Callable[[str, tuple[Any, ...]], None]) -> None:
    """Route the extern "Python" `name` to handler (def_extern may run once per ffi and name)."""
    key = (id(ffi), name)
    if key not in _EXTERN_HANDLERS:
        @ffi.def_extern(name=name)
        def _trampoline(*args: Any) -> None:
            _EXTERN_HANDLERS[key](name, args)
    _EXTERN_HANDLERS[key] = handler


class CallbackMixin:
    """SequenceDriver's callback handling (uses its contract, ffi, lib, plans, state, _step,
    _remember)."""

    def _install_callbacks(self) -> tuple[dict[str, Any], set[str]]:
        """One `extern "Python"` implementation per function-pointer type (see harness.target.build):
        (type text -> the lib's callback, names of the callbacks that serve as release functions)."""
        release_types = {self.contract.functions[f].signature.param(r.release).ctype  # type: ignore[union-attr]
                         for f, r in ((f.name, f.registration) for f in self.contract.functions.values())
                         if r is not None and r.release}
        installed: dict[str, Any] = {}
        release_externs: set[str] = set()
        self._callback_contracts: dict[str, tuple[CallbackContract, tuple[str, ...]]] = {}
        for ctype, (name, _decl) in self.contract.api.callback_externs().items():
            if ctype in release_types:
                release_externs.add(name)
            implementation = getattr(self.lib, name, None)
            if implementation is None:
                continue
            params = tuple(p.name for p in self.contract.api.callback_params.get(ctype, ()))
            self._callback_contracts[name] = (self.contract.callbacks.get(ctype, CallbackContract(ctype)), params)
            bind_extern(self.ffi, name, self._on_callback)
            installed[ctype] = implementation
        return installed, release_externs

    def _read_arguments(self, contract: CallbackContract, arguments: dict[str, Any]) -> None:
        """Read what the callback contract says C hands over, as a callee would: its C strings
        whole, its buffers up to their stated length (the first CALLBACK_READ_LIMIT bytes and the
        last element, so the whole range is checked); nothing else."""
        ffi = self.ffi
        for name in contract.strings:
            value = arguments.get(name)
            if value is not None and value != ffi.NULL:
                self._remember(ffi.string(value))
        for pointer, length in contract.buffers:
            value, count = arguments.get(pointer), arguments.get(length)
            if value is None or value == ffi.NULL or not isinstance(count, int) or count <= 0:
                continue
            size = element_size(ffi, ffi.typeof(value).cname)
            data = ffi.buffer(ffi.cast("char *", value), min(count * size, CALLBACK_READ_LIMIT))[:]
            ffi.buffer(ffi.cast("char *", value) + (count - 1) * size, size)[:]
            self._remember(data)

    def _on_callback(self, name: str, args: tuple[Any, ...]) -> None:
        state = self.state
        ffi = self.ffi
        contract, params = self._callback_contracts[name]
        arguments = dict(zip(params, args, strict=False))
        token = arguments.get(contract.user_data) if contract.user_data else None
        reg = state.registrations.get(int(ffi.cast("uintptr_t", token))) \
            if isinstance(token, ffi.CData) and token != ffi.NULL else None
        is_release = name in self._release_externs
        self._read_arguments(contract, arguments)
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

    def _reenter(self, reg: LiveRegistration, choices: Choices) -> None:
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
