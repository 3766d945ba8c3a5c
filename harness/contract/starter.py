"""`ffi-harness init`: a starter target spec from headers, every contract entry guessed and
marked for review.

The guesses follow the conventions most C APIs use: a function named *free/close/destroy*
taking `T *` ends the handles other functions return; `const char *` results are borrowed
(from the first handle parameter, else static), other pointer results owned; a pointer
followed by an integer named like a length is a buffer (an output buffer when not const);
a function pointer with a `void *` is a callback registration, ended by the function named
like un<register>/remove taking an integer id.
"""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

from harness.contract.spec import is_integer, pointee
from harness.target.header import HeaderApi, Signature, header_signatures

DESTRUCTOR = re.compile(r"(free|close|destroy|release|delete|unref|dispose|fini|finish)$", re.I)
LENGTH = re.compile(r"^(n|len|length|size|count|nbytes|.*_len|.*_length|.*_size)$", re.I)
CAPACITY = re.compile(r"^(cap|capacity|size|len|buflen|bufsize|n|.*_cap|.*_size|.*_len)$", re.I)
ENDS = re.compile(r"(unsubscribe|unwatch|unregister|remove_(listener|callback|handler|watch)|disconnect)", re.I)
REVIEW = "  # REVIEW"


def _toml_list(names: list[str]) -> str:
    return "[" + ", ".join(f'"{n}"' for n in names) + "]"


def _handles(api: HeaderApi) -> dict[str, tuple[list[str], str]]:
    """type -> (constructors, destructor), for types some function returns and one ends."""
    returned: dict[str, list[str]] = {}
    for sig in api.functions.values():
        base = pointee(sig.result)
        if base and sig.result.count("*") == 1 and "char" not in base and base != "void":
            returned.setdefault(base, []).append(sig.name)
    found = {}
    for type_name, makers in returned.items():
        ender = next((s.name for s in api.functions.values() if DESTRUCTOR.search(s.name) and s.params
                      and pointee(s.params[0].ctype) == type_name and s.params[0].ctype.count("*") == 1), None)
        if ender:
            found[type_name] = (makers, ender)
    return found


def _default_free(api: HeaderApi) -> str | None:
    return next((s.name for s in api.functions.values() if re.search(r"free$", s.name) and len(s.params) == 1
                 and s.params[0].ctype in ("void *", "char *")), None)


def _function_entry(sig: Signature, api: HeaderApi, handles: dict, default_free: str | None) -> list[str]:
    lines: list[str] = []
    handle_params = [p for p in sig.params if pointee(p.ctype) in handles and p.ctype.count("*") == 1]
    base = pointee(sig.result)
    if base and base not in handles and sig.result.count("*") == 1:
        if sig.result.startswith("const"):
            if handle_params:
                lines += [f'returns = "borrowed"{REVIEW}: until which calls does it stay valid?',
                          f'owner = "{handle_params[0].name}"', "until = []"]
            else:
                lines.append(f'returns = "static"{REVIEW}: or borrowed (until = ["*"]) if it changes')
        else:
            lines.append(f'returns = "owned"{REVIEW}')
            if not default_free:
                lines.append(f'free = "FREE_FUNCTION"{REVIEW}: what releases it')
    params = list(sig.params)
    buffers, out_buffers = [], []
    for pointer, length in itertools.pairwise(params):
        if "*" not in pointer.ctype or pointer.ctype.count("*") > 1 or pointee(pointer.ctype) in handles:
            continue
        if not is_integer(length.ctype, api.enums):
            continue
        if pointer.ctype.startswith("const") and LENGTH.match(length.name):
            buffers.append(f'{pointer.name} = "{length.name}"')
        elif not pointer.ctype.startswith("const") and CAPACITY.match(length.name):
            out_buffers.append(f'{pointer.name} = "{length.name}"')
    if buffers:
        lines.append(f"buffers = {{ {', '.join(buffers)} }}{REVIEW}")
    if out_buffers:
        lines.append(f"out_buffers = {{ {', '.join(out_buffers)} }}{REVIEW}")
    for p in params:
        if p.ctype.count("*") == 2:
            length = next((q.name for q in params if q.ctype in ("size_t *",) and q is not p), None)
            extra = f', length = "{length}"' if length else ""
            lines.append(f'outputs.{p.name} = {{ returns = "owned"{extra} }}{REVIEW}: owned or borrowed?')
    callbacks = [p for p in params if p.ctype in api.function_pointers]
    user_data = next((p for p in params if p.ctype == "void *"), None)
    if callbacks and user_data:
        lines += [f'callback = "{callbacks[0].name}"{REVIEW}: a registration that outlives the call?',
                  f'user_data = "{user_data.name}"']
        if len(callbacks) > 1:
            lines += [f'release = "{callbacks[1].name}"', f'nullable = ["{callbacks[1].name}"]']
        ender = next((s for s in api.functions.values() if ENDS.search(s.name) and s.name != sig.name), None)
        id_param = next((p.name for p in ender.params if is_integer(p.ctype, api.enums)), None) if ender else None
        if ender and id_param:
            lines.append(f'ends = {{ {ender.name} = "{id_param}" }}')
    return lines


def starter_spec(headers: list[Path], sources: list[Path], name: str, spec_dir: Path,
                 include_dirs: tuple[Path, ...] = (), library: Path | None = None) -> tuple[str, str | None]:
    """(spec text, umbrella header text or None) for headers; paths relative to spec_dir.
    With `library` (a prebuilt .so) the spec is for binary-only mode instead of sources."""
    umbrella = None
    if len(headers) > 1:
        umbrella = "".join(f'#include "{os.path.relpath(h.resolve(), spec_dir)}"\n' for h in headers)
        header_text = f"{name}_all.h"
    else:
        header_text = os.path.relpath(headers[0].resolve(), spec_dir)
    api = HeaderApi({}, frozenset(), frozenset(), {})
    for header in headers:
        part = header_signatures(header, include_dirs)
        api = HeaderApi({**api.functions, **part.functions}, api.function_pointers | part.function_pointers,
                        api.enums | part.enums, {**api.callback_decls, **part.callback_decls})
    handles = _handles(api)
    default_free = _default_free(api)
    rel = [os.path.relpath(s.resolve(), spec_dir) for s in sources]
    code = (f'library = "{os.path.relpath(library.resolve(), spec_dir)}"  # prebuilt: binary-only mode'
            if library else f"sources = {_toml_list(rel)}")
    dirs = sorted({os.path.relpath(h.resolve().parent, spec_dir) for h in headers})
    out = [f"# Starter ffi-harness spec written by `ffi-harness init` from {', '.join(h.name for h in headers)}.",
           "# Every line marked REVIEW is a guess from names and types: check it against the docs.",
           "[target]", f'name = "{name}"', f'header = "{header_text}"', code,
           f"include_dirs = {_toml_list(dirs)}", "", "[contract]"]
    if default_free:
        out.append(f'free = "{default_free}"{REVIEW}: releases owned results')
    for type_name, (makers, ender) in handles.items():
        out += ["", f"[contract.handles.{type_name}]", f"new = {_toml_list(makers)}{REVIEW}", f'free = "{ender}"']
    for sig in api.functions.values():
        lines = _function_entry(sig, api, handles, default_free)
        if lines:
            out += ["", f"[contract.functions.{sig.name}]", *lines]
    return "\n".join(out) + "\n", umbrella
