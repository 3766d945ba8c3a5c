"""How the sequence driver shows what it does: each call as C (FFI_HARNESS_TRACE), and a call's
outcome class (behaviour feedback for a library without coverage)."""

from __future__ import annotations

import sys
from typing import Any

from harness.contract.model import FunctionContract
from harness.engine.protocol import CALL_TRACE
from harness.sequence.state import Arg, Handle


def c_literal(data: bytes, limit: int = 48) -> str:
    """bytes as a C string literal, cut at limit."""
    body = "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\x{b:02x}" for b in data[:limit])
    return f'"{body}"' + ("..." if len(data) > limit else "")


class Shown:
    """Bytes an argument was made from, shown as a C literal (inside `form`) only when a trace
    prints the call: formatting every argument of every call costs more than the call."""

    __slots__ = ("data", "form")

    def __init__(self, data: bytes, form: str = "{}") -> None:
        self.data, self.form = data, form

    def __str__(self) -> str:
        return self.form.format(c_literal(self.data))


def outcome(ffi: Any, result: Any) -> str:
    """A call's result reduced to a class: NULL or not, zero/negative or the bit length."""
    if isinstance(result, ffi.CData):
        return "null" if result == ffi.NULL else "ptr"
    if isinstance(result, bool) or not isinstance(result, int):
        return type(result).__name__
    if result < 0:
        return str(result) if result >= -4 else "neg"
    return f"b{result.bit_length()}"


def print_call(ffi: Any, fc: FunctionContract, plan: list[Arg], values: dict[str, Any]) -> None:
    """Write the call about to be made, as C, to stderr."""
    shown = []
    for arg in plan:
        value = values[arg.name]
        if isinstance(value, Handle):
            shown.append(f"{value.type}#{id(value) % 10007}")
        elif f"#show:{arg.name}" in values:
            shown.append(str(values[f"#show:{arg.name}"]))
        elif arg.role in ("cell", "out_pointer", "capacity_cell_of", "length_cell_of"):
            shown.append(f"&{arg.name}")
        elif arg.role in ("callback", "callback_sync", "release", "user_data"):
            shown.append(arg.role if value is not None and value != ffi.NULL else "NULL")
        elif isinstance(value, ffi.CData):  # a buffer the driver made: its name, not its address
            shown.append("NULL" if value == ffi.NULL else arg.name)
        else:
            shown.append(str(value))
    sys.stderr.write(f"{CALL_TRACE}{fc.name}({', '.join(shown)})\n")
    sys.stderr.flush()


def record_call(ffi: Any, fc: FunctionContract, plan: list[Arg], values: dict[str, Any], result: Any,
                new: range) -> str:
    """One call in the record both paths write (tests compare the native loop's with this):
    handles by serial, bytes in hex, capacities, integers and the result exactly."""
    shown = []
    for arg in plan:
        value, role = values[arg.name], arg.role
        if role in ("handle", "child", "parent_of"):
            shown.append(f"h{value.serial}" if isinstance(value, Handle) else "NULL")
        elif role in ("cstring", "takes", "buffer"):
            shown.append("NULL" if value == ffi.NULL else "x" + values[f"#show:{arg.name}"].data.hex())
        elif role == "out_buffer":
            shown.append(f"out[{values[f'#cap:{arg.name}']}]")
        elif role == "capacity_cell_of":
            shown.append(f"&{values[f'#cap:{arg.other}']}")
        elif role == "length_cell_of":
            shown.append(f"&{values[f'#len:{arg.other}']}")
        elif role == "null":
            shown.append("NULL")
        elif role in ("cell", "out_pointer"):
            shown.append("&")
        elif role == "float":
            shown.append(f"{value:.17g}")
        elif role == "char":
            shown.append(str(value[0]))
        elif role in ("callback", "callback_sync", "release"):
            shown.append("NULL" if value == ffi.NULL else "fn")
        elif role == "user_data":
            shown.append("ud")
        else:
            shown.append(str(value))
    if isinstance(result, ffi.CData):
        outcome_text = "null" if result == ffi.NULL else "ptr"
    else:
        outcome_text = "float" if isinstance(result, float) else str(result)
    made = "".join(f" new h{k}" for k in new)
    return f"{fc.name}({', '.join(shown)}) -> {outcome_text}{made}\n"


def violation_line(violation: Any) -> str:
    """The record's last line for an input that ended with a contract violation."""
    return f"-- {violation}\n"
