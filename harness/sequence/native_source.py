"""The C source of a contract's native loop: what differs between contracts around the steps of
harness.sequence.native_steps - the library's callbacks, a constructor and a destructor call per
handle type, the function table and the loop's entry points. The helpers are
harness/data/sequence_loop.h.

A contract that needs a form the loop does not make (a variadic function, a struct result, more
than 16 parameters, a callback type the loop cannot declare): native_source raises
NativeUnsupported saying which, and the fuzzer keeps the Python driver."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.contract.model import CallbackContract, Contract
from harness.sequence.native_steps import NativeUnsupported, StepWriter
from harness.sequence.state import Arg
from harness.sequence.values import element_size
from harness.target.header import Param

__all__ = ["Callback", "NativeUnsupported", "native_source"]


@dataclass(frozen=True)
class Callback:
    """The driver's callback for one function-pointer type: what it reads, whether it is a release."""

    contract: CallbackContract
    params: tuple[Param, ...]
    result: str  # the type's return type
    is_release: bool


def _callback(writer: StepWriter, ctype: str, callback: Callback) -> str:
    """callbacks.py's _on_callback for one function-pointer type: read what its contract says C
    hands over, then judge the registration its user_data names."""
    names = {p.name: f"a{k}" for k, p in enumerate(callback.params)}
    if any("(" in p.ctype or "[" in p.ctype for p in callback.params) or "(" in callback.result:
        raise NativeUnsupported(f"callback type {ctype}: a parameter or result the loop cannot declare")
    params = ", ".join(f"{p.ctype} a{k}" for k, p in enumerate(callback.params)) or "void"
    lines = [f"static {callback.result} {writer.callbacks[ctype]}({params}) {{  /* {ctype} */"]
    lines += [f"    callback_string((const char *){names[name]});" for name in callback.contract.strings]
    for pointer, length in callback.contract.buffers:
        size = element_size(writer.ffi, next(p.ctype for p in callback.params if p.name == pointer))
        lines.append(f"    callback_buffer({names[pointer]}, (i128){names[length]}, {size});")
    token = f"(const void *){names[callback.contract.user_data]}" if callback.contract.user_data else "0"
    lines.append(f"    on_callback({token}, {int(callback.is_release)}, reentrant, nreentrant);")
    if callback.result != "void":
        lines.append(f"    return ({callback.result})0;")
    lines.append("}")
    return "\n".join(lines)


def _constructor(writer: StepWriter, t: str) -> str:
    """Driver._construct: one of the type's makers whose own handles are live."""
    handle = writer.contract.handles[t]
    lines = [f"static int construct_{writer.types.index(t)}(void) {{  /* {t} */",
             f"    int makers[{max(len(handle.new), 1)}], n = 0;"]
    for maker in handle.new:
        if maker not in writer.plans:
            continue
        if any(a.role == "child" for a in writer.plans[maker]):
            continue
        needs = [writer.types.index(a.other) for a in writer.plans[maker] if a.role == "handle"]  # type: ignore[arg-type]
        condition = " && ".join(f"live_count({n}, 0)" for n in needs) or "1"
        lines.append(f"    if ({condition}) makers[n++] = {writer.names.index(maker)};")
    lines += ["    if (!n) return 0;", "    steps[makers[choose(0, n - 1)]]();",
              f"    return live_count({writer.types.index(t)}, 0) > 0;", "}"]
    return "\n".join(lines)


def _destructor(writer: StepWriter, t: str) -> str:
    """Driver.end's _destroy: the type's free function on one live handle."""
    free = writer.contract.handles[t].free
    if free not in writer.plans:
        raise NativeUnsupported(f"{free}: a destructor the driver does not plan")
    return "\n".join([
        f"static void destroy_{writer.types.index(t)}(int serial) {{  /* {free} */",
        "    Call c;", "    memset(&c, 0, sizeof c);",
        "    c.p[0] = handles[index_of(serial)].pointer; c.serial[0] = serial;",
        f"    ffih_call_{free}(&c);", "}"])


def native_source(contract: Contract, ffi: Any, plans: dict[str, list[Arg]], callbacks: dict[str, Callback],
                  header: str, runtime: str) -> tuple[str, list[str]]:
    """(the loop's C source, the functions whose addresses ffih_loop_init takes, in order);
    NativeUnsupported when the contract needs a form the loop does not make. callbacks: the
    driver's callback per function-pointer type (its contract, whether it serves as a release)."""
    writer = StepWriter(contract, ffi, plans, {h.free for h in contract.handles.values()})
    writer.callbacks = {ctype: f"ffih_cb{k}" for k, ctype in enumerate(callbacks)}
    for name, plan in plans.items():
        writer.check(contract.functions[name], plan)
    callback_code = [_callback(writer, ctype, callback) for ctype, callback in callbacks.items()]
    steps = [writer.step(i, contract.functions[n], plans[n]) for i, n in enumerate(writer.names)]
    constructors = [_constructor(writer, t) for t in writer.types]
    destructors = [_destructor(writer, t) for t in writer.types]
    pointers = [f"static __typeof__(&{name}) fn_{i};" for i, name in enumerate(writer.table)]
    n = len(writer.names)
    destroys = ", ".join(f"destroy_{i}" for i in range(len(writer.types)))
    reentrant = []
    for name in writer.names:
        registration = contract.functions[name].registration
        allowed = [writer.names.index(r) for r in (registration.reentrant if registration else ()) if r in plans]
        reentrant.append(f"static const int reentrant_{writer.names.index(name)}[] = "
                         f"{{{', '.join(map(str, allowed)) or '0'}}};  /* {name} */")
    counts = [len([r for r in (contract.functions[name].registration.reentrant  # type: ignore[union-attr]
                               if contract.functions[name].registration else ()) if r in plans])
              for name in writer.names]
    quoted = ", ".join(f'"{name}"' for name in writer.names)
    parts = [
        f'#include "{header}"',
        *(f"static void step_{i}(void);" for i in range(n)),
        f"static void (*const steps[])(void) = {{{', '.join(f'step_{i}' for i in range(n)) or '0'}}};",
        f"static const char *const function_names[] = {{{quoted or '0'}}};",
        f'#include "{runtime}"',
        *pointers, *reentrant,
        f"static const int *const reentrant[] = {{{', '.join(f'reentrant_{i}' for i in range(n)) or '0'}}};",
        f"static const int nreentrant[] = {{{', '.join(map(str, counts)) or '0'}}};",
        *callback_code, *constructors, *steps, *destructors,
        f"static void (*const destroys[])(int) = {{{destroys or '0'}}};",
        _ENTRY_POINTS.replace("NSTEPS", str(n)).replace("NFUNCTIONS", str(len(writer.table))),
        *(f"    fn_{i} = (__typeof__(fn_{i}))functions[{i}];" for i in range(len(writer.table))),
        "    return 0;", "}",
    ]
    return "\n".join(parts) + "\n", writer.table


_ENTRY_POINTS = """
int ffih_loop_run(const char *data, size_t size, int max_steps, int record) {
    recording = record;
    start_run((const uint8_t *)data, size);
    for (int s = 0; s < max_steps; s++) {
        if (remaining() <= 0 || NSTEPS == 0) break;
            steps[choose(0, NSTEPS - 1)]();
        if (violated) break;
    }
    tearing_down = 1;
    int alive[nhandles + 1], nalive = nhandles;
    for (int i = 0; i < nhandles; i++) alive[i] = handles[i].serial;
    for (int k = nalive - 1; k >= 0; k--) {
        int i = index_of(alive[k]);
        if (i >= 0 && !handles[i].borrowed) destroys[handles[i].type](alive[k]);
    }
    end_run();
    return violated;
}

int ffih_loop_violation(const char **kind, const char **detail, const char **function) {
    *kind = violation_kind;
    *detail = violation_detail;
    *function = violation_function;
    return violated;
}

size_t ffih_loop_record(const char **text) {
    *text = record ? record : "";
    return record_len;
}

int ffih_loop_init(const uintptr_t *functions, size_t n) {
    static int counting;
    if (n != NFUNCTIONS) return -1;
    if (!counting && __sanitizer_cov_8bit_counters_init && __sanitizer_cov_pcs_init) {
        for (size_t i = 0; i < FEEDBACK; i++) feedback_pcs[2 * i] = (uintptr_t)&feedback[i];
        __sanitizer_cov_8bit_counters_init(feedback, feedback + FEEDBACK);
        __sanitizer_cov_pcs_init(feedback_pcs, feedback_pcs + 2 * FEEDBACK);
        counting = 1;
    }"""
