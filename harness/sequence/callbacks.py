"""Callbacks of the sequence driver: one `extern "Python"` implementation per function-pointer
type of the header, what it reads of the arguments C hands over, registrations' lifetimes
(release exactly once, nothing after unregister) and calls made from inside a callback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.sequence.plan import CHAR_TYPES
from harness.sequence.state import Choices, LiveRegistration

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
            bind_extern(self.ffi, name, self._on_callback)
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
