"""`ffi-harness init`: a starter target spec from headers, safe to fuzz before anyone reviews it.

The guesses follow the conventions most C APIs use, and only where a wrong one cannot make the
driver free, write or keep what it must not: a function named like free/close/destroy/release
(`foo_free`, `LZ4_freeStream`) taking `T *` ends the handles returned by functions named like
new/create/open/parse/dup; `const char *` results are read at once (borrowed from the first
handle parameter, or static); a pointer followed by an integer named like a length or capacity
is a buffer of that many elements (an output buffer when not const); a function pointer with a
`void *` is a callback registration, ended by the function named like un<register>/remove.
Where the header does not say - a `T *` result of a function not named like a constructor, a
pointer result nobody is known to free, a handle given to a function named like add/insert
(does it take it?), a writable byte pointer with no length - the function is skipped, with a
REVIEW line asking the question. Every guess is marked REVIEW as well.
"""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

from harness.contract.model import handle_name, pointee
from harness.target.header import HeaderApi, Signature, header_signatures, is_integer

DESTRUCTOR_WORDS = {"free", "close", "destroy", "release", "delete", "unref", "dispose", "fini", "finish",
                    "deinit", "destruct", "dealloc"}
CONSTRUCTOR_WORDS = {"new", "create", "alloc", "open", "init", "make", "parse", "dup", "duplicate", "copy",
                     "clone", "load", "construct"}
OWNED_WORDS = {"dup", "strdup", "duplicate", "copy", "clone", "alloc", "new", "create", "print", "dump",
               "format", "serialize", "encode", "export", "join", "concat", "tostring"}
OUTPUT_OWNED_WORDS = OWNED_WORDS | {"take", "steal", "detach", "save", "read"}
TAKES_WORDS = {"owned", "own", "take", "takes", "adopt", "steal", "give", "transfer", "nocopy", "consume"}
HANDOVER_WORDS = {"add", "insert", "append", "prepend", "attach", "push", "adopt", "replace", "set", "put",
                  "give", "move", "steal", "take", "link", "reparent"}
LENGTH = re.compile(r"^(n|len|length|size|count|num|nmemb|nbytes|nelem|items|.*_(len|length|size|count|num)|"
                    r".*(Len|Length|Size|Count|Num))$")
CAPACITY = re.compile(r"^(cap|capacity|size|len|buflen|bufsize|n|count|num|nmemb|nbytes|"
                      r".*_(cap|capacity|size|len|count)|.*(Cap|Capacity|Size|Len|Count))$")
ENDS = re.compile(r"(unsubscribe|unwatch|unregister|remove_(listener|callback|handler|watch)|disconnect)", re.I)
BYTES = ("char", "void", "unsigned char", "signed char", "uint8_t", "int8_t")
# a function of a handle with these words may keep a pointer it is given instead of copying it
# functions given a node and (often) one of its children: a tree library's unlink/detach/remove
CHILD_WORDS = {"detach", "unlink", "remove", "replace", "child", "children", "via", "sibling"}
KEEP_WORDS = {"set", "ref", "reference", "attach", "bind", "use", "keep", "retain", "register", "install", "load",
              "dict", "dictionary", "prefix"}
# integer parameters that often select among a fixed set (a table row, a level): valid in a range
SELECTOR_WORDS = {"level", "index", "idx", "slot", "which", "mode", "kind", "type", "choice", "channel",
                  "lane", "bucket", "shard", "preset", "quality", "speed", "strategy", "log", "shift", "bits",
                  "window"}
REVIEW = "  # REVIEW"


def words(name: str) -> set[str]:
    """The words of a C name, snake_case or camelCase: LZ4_freeStream -> {lz4, free, stream}."""
    return {w.lower() for w in re.findall(r"[A-Z]+\d*(?=[A-Z][a-z])|[A-Z]?[a-z]+\d*|[A-Z]+\d*|\d+", name)}


def _toml_list(names: list[str]) -> str:
    return "[" + ", ".join(f'"{n}"' for n in names) + "]"


def _handles(api: HeaderApi) -> dict[str, tuple[list[str], str]]:
    """type -> (constructors, destructor), for types a function named like a constructor
    returns and one named like a destructor ends."""
    returned: dict[str, list[str]] = {}
    for sig in api.functions.values():
        base = pointee(sig.result)
        if base and sig.result.count("*") == 1 and "char" not in base and base != "void" \
                and not sig.result.startswith("const") and words(sig.name) & CONSTRUCTOR_WORDS:
            returned.setdefault(base, []).append(sig.name)
    found = {}
    for type_name, makers in returned.items():
        ender = next((s.name for s in api.functions.values() if words(s.name) & DESTRUCTOR_WORDS and s.params
                      and pointee(s.params[0].ctype) == type_name and s.params[0].ctype.count("*") == 1), None)
        if ender:
            found[type_name] = (makers, ender)
    return found


def _question(sig: Signature, api: HeaderApi, handles: dict, default_free: str | None) -> str | None:
    """Why the starter cannot call sig safely without a human answer, or None."""
    base = pointee(sig.result)
    makers = {m for makers, _ in handles.values() for m in makers}
    enders = {ender for _, ender in handles.values()}
    if sig.name in makers or sig.name in enders or sig.name == default_free or words(sig.name) & DESTRUCTOR_WORDS:
        return None
    handle_params = [p for p in sig.params if handle_name(p.ctype, handles)]
    child = None
    if len(handle_params) > 1 and words(sig.name) & CHILD_WORDS:
        first, second = handle_params[0].name, handle_params[1].name
        child = (f"must {second} be a child of {first} (child_of = {{ {second} = \"{first}\" }}, and a function "
                 "returning borrowed children)")
    if base and sig.result.count("*") == 1 and not sig.result.startswith("const") and base != "void":
        if base in handles:
            return (f"returns {sig.result}: a new one (add it to [contract.handles.{base}].new), owned by the caller "
                    f'(returns = "owned", free = ...) or borrowed (returns = "borrowed", owner = ...)?'
                    + (f" And {child}?" if child else ""))
        if not (words(sig.name) & OWNED_WORDS and default_free):
            return f'returns {sig.result}: who frees it (returns = "owned", free = ...) or is it borrowed?'
    if sig.result.count("*") == 1 and base == "void" and not sig.result.startswith("const"):
        return f'returns {sig.result}: owned (returns = "owned", free = ...), borrowed or static?'
    selector = next((p for p in sig.params if is_integer(p.ctype, api.integer_types) and words(p.name) & SELECTOR_WORDS
                     and p.ctype not in api.enums), None)
    if selector is not None:
        return (f"which values may {selector.name} take (ranges = {{ {selector.name} = [lowest, highest] }}), "
                "or is every value checked?")
    if child:
        return f"{child}, and does it take either?"
    if len(handle_params) > 1 and words(sig.name) & HANDOVER_WORDS:
        later = ", ".join(p.name for p in handle_params[1:])
        return f'does it take {later} (takes = ["{handle_params[-1].name}"]) or only use it?'
    inputs = [p for p in sig.params if p.ctype.count("*") == 1 and p.ctype.startswith("const")
              and pointee(p.ctype) not in handles]
    if handle_params and inputs and words(sig.name) & KEEP_WORDS and sig.name not in makers:
        names = ", ".join(p.name for p in inputs)
        return (f"does it keep {names} after the call (keeps = {{ {inputs[0].name} = \"{handle_params[0].name}\" }}) "
                "or copy it?")
    # writable byte buffers (char *, uint8_t *, ...; a void * is user data or opaque)
    given = [p for p in sig.params if p.ctype.count("*") == 1 and not p.ctype.startswith("const")
             and pointee(p.ctype) in BYTES and pointee(p.ctype) != "void"]
    if given and words(sig.name) & TAKES_WORDS:
        return f'does it take {given[0].name} (takes = ["{given[0].name}"]: malloc\'d, never used again)?'
    outputs = [p for p in sig.params if p.ctype.count("*") == 2]
    if outputs and not words(sig.name) & OUTPUT_OWNED_WORDS:
        names = ", ".join(p.name for p in outputs)
        return f'what it stores in {names}: owned (outputs.{outputs[0].name} = {{ returns = "owned" }}) or borrowed?'
    lengths = {a.name for a, b in itertools.pairwise(sig.params) if is_integer(b.ctype, api.integer_types)}
    unmeasured = next((p for p in given if p.name not in lengths), None)
    if unmeasured is not None:
        return (f"writes into {unmeasured.name} ({unmeasured.ctype}): how long must it be "
                f"(out_buffers = {{ {unmeasured.name} = ... }})?")
    return None


def _default_free(api: HeaderApi) -> str | None:
    return next((s.name for s in api.functions.values() if re.search(r"free$", s.name) and len(s.params) == 1
                 and s.params[0].ctype in ("void *", "char *")), None)


def _function_entry(sig: Signature, api: HeaderApi, handles: dict, default_free: str | None) -> list[str]:
    lines: list[str] = []
    handle_params = [p for p in sig.params if handle_name(p.ctype, handles)]
    base = pointee(sig.result)
    if base and base not in handles and sig.result.count("*") == 1:
        if sig.result.startswith("const"):
            if handle_params:
                lines += [f'returns = "borrowed"{REVIEW}: until which calls does it stay valid?',
                          f'owner = "{handle_params[0].name}"', 'until = ["*"]  # read at once: any call may end it']
            else:
                lines.append(f'returns = "static"{REVIEW}: or borrowed (until = ["*"]) if it changes')
        else:  # named like an owned result, and a free function is known (else _question)
            lines.append(f'returns = "owned"{REVIEW}')
    params = list(sig.params)
    buffers, out_buffers = [], []
    for pointer, length in itertools.pairwise(params):
        if "*" not in pointer.ctype or pointer.ctype.count("*") > 1 or pointee(pointer.ctype) in handles:
            continue
        if not is_integer(length.ctype, api.integer_types):
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
        if p.ctype.count("*") == 2 and default_free:
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
        id_param = next((p.name for p in ender.params if is_integer(p.ctype, api.integer_types)),
                        None) if ender else None
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
                        api.enums | part.enums, {**api.callback_decls, **part.callback_decls},
                        integer_aliases=api.integer_aliases | part.integer_aliases)
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
    questions = {sig.name: q for sig in api.functions.values()
                 if (q := _question(sig, api, handles, default_free)) is not None}
    if questions:  # the driver never calls these until someone answers
        out.append("skip = [")
        out += [f'    "{name}",{REVIEW}: {question}' for name, question in questions.items()]
        out.append("]")
    for type_name, (makers, ender) in handles.items():
        out += ["", f"[contract.handles.{type_name}]", f"new = {_toml_list(makers)}{REVIEW}", f'free = "{ender}"']
    for sig in api.functions.values():
        lines = [] if sig.name in questions else _function_entry(sig, api, handles, default_free)
        if lines:
            out += ["", f"[contract.functions.{sig.name}]", *lines]
    return "\n".join(out) + "\n", umbrella
