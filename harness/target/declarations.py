"""A preprocessed header made into declarations cffi's API mode can use, each or none.

A declaration cffi accepts is kept as written. One it cannot lay out or evaluate is kept in
the form API mode leaves to the C compiler (the wrapper is compiled with the real header):
an array length `[...]`, a struct or union `{ ...; }`, an enumerator `= ...`, an integer macro
`#define X ...`. An inline function is declared by its prototype (called through the compiled
wrapper). What still cannot be used - a declaration pycparser or cffi rejects, a function-like
macro - is skipped with one line naming it and its line in the header:
`foo.h:120: skipped foo_x: ...`. Nothing here raises on a declaration: a header is usable as
far as its declarations are.
"""

from __future__ import annotations

import copy
import os
import re
import warnings
from dataclasses import dataclass

import cffi
from pycparser import c_ast, c_generator, c_parser
from pycparser.c_parser import ParseError

# integer types of the system headers (stubbed out when the header is read) that cffi does not
# know: declared `typedef int... T;`, their size given by the compiler, when a declaration uses them
SYSTEM_INTEGERS = ("off_t", "off64_t", "mode_t", "pid_t", "uid_t", "gid_t", "dev_t", "ino_t", "nlink_t",
                   "time_t", "clock_t", "suseconds_t", "useconds_t", "socklen_t", "blksize_t", "blkcnt_t",
                   "id_t", "key_t")
DOTS = "__ffih_dots__"  # stands for cffi's `...` while the text is pycparser's
MAX_SKIPPED_CHUNKS = 200  # parse errors recovered from by dropping their declaration
_MARKER = re.compile(r'^#\s*(\d+)\s+"((?:[^"\\]|\\.)*)"')
_DEFINE = re.compile(r"^#\s*define\s+([A-Za-z_]\w*)(\([^)]*\))?(?:\s+(.*))?$")
# an integer constant expression of literals (a float, a string or a name is not one cffi can give)
_HELPER_MACRO = re.compile(r"^\s*(__attribute__|__declspec|_Pragma|__pragma)|#")
_INTEGER_EXPRESSION = re.compile(r"(?:\s|[()~!+\-*/%<>&|^]|0[xX][0-9a-fA-F]+[uUlL]*|\d+[uUlL]*)+")


@dataclass(frozen=True)
class Usable:
    """What cffi gets from a header: its cdef text, the same declarations as pycparser reads
    them (a `...` written as an identifier), and one line per declaration left out."""

    cdef: str
    parseable: str
    skipped: tuple[str, ...]


@dataclass(frozen=True)
class _Macro:
    name: str
    body: str
    function_like: bool
    where: str


def usable_declarations(text: str, preamble: str, origin: str, own_folders: tuple[str, ...]) -> Usable:
    """text: clang -E -dD output (line markers and #defines kept); preamble: typedefs pycparser
    needs for cffi's built-in types (not part of the result); origin: the header's path;
    own_folders: where the library's own headers are (their macros are the library's)."""
    lines = text.splitlines()
    places = _places(lines, preamble)  # blanking a line below keeps every line's place
    macros = _take_macros(lines, places, tuple(os.path.join(os.path.realpath(f), "") for f in own_folders))
    skipped: list[str] = []
    ast = _parse(lines, places, preamble, origin, skipped)
    declared = _Declared()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cffi warns on string literals it ignores (asm labels)
        for node in ast.ext[_count_nodes(preamble):]:
            _keep(node, declared, skipped)
        for macro in macros:
            _keep_macro(macro, declared, skipped)
    kept = declared.kept
    used = [name for name in SYSTEM_INTEGERS if any(re.search(rf"\b{name}\b", c) for c, _ in kept)]
    kept[:0] = [(f"typedef int... {name};", "") for name in used]
    return Usable("\n".join(c for c, _ in kept) + "\n", "\n".join(p for _, p in kept if p) + "\n",
                  tuple(skipped))


def _where(file: str, line: int) -> str:
    relative = os.path.relpath(file) if os.path.isabs(file) else file
    return f"{file if relative.startswith('..') else relative}:{line}"


def _take_macros(lines: list[str], places: list[tuple[str, int]], own: tuple[str, ...]) -> list[_Macro]:
    """Blank each #define/#undef line (in place: line numbers stay); the library's own macros
    still defined at the end, in order."""
    macros: dict[str, _Macro] = {}
    for index, raw in enumerate(lines):
        stripped = raw.strip()
        if not stripped.startswith("#") or stripped.startswith("#pragma") or _MARKER.match(raw):
            continue
        file, line = places[index]
        define = _DEFINE.match(stripped)
        if define and not file.startswith("<") and os.path.realpath(file).startswith(own):
            name, paren, body = define.group(1), define.group(2), (define.group(3) or "").strip()
            macros[name] = _Macro(name, body, bool(paren), _where(file, line))
        elif stripped.startswith("#undef"):
            macros.pop(stripped.split()[1] if len(stripped.split()) > 1 else "", None)
        lines[index] = ""
    return list(macros.values())


def _count_nodes(preamble: str) -> int:
    return len(c_parser.CParser().parse(preamble).ext) if preamble else 0


def _parse(lines: list[str], places: list[tuple[str, int]], preamble: str, origin: str,
           skipped: list[str]) -> c_ast.FileAST:
    """pycparser's tree of the lines; a top-level declaration it cannot parse is dropped (and
    named in skipped), then the rest is parsed again."""
    for _ in range(MAX_SKIPPED_CHUNKS):
        try:
            return _parse_text(lines, preamble, origin)
        except ParseError as exc:
            chunks = _chunks(lines)
            index = _error_line(str(exc), places)
            chunk = (next(c for c in chunks if c[0] <= index <= c[1]) if index is not None
                     else _first_failing(chunks, lines, preamble, origin))
            if chunk is None:
                raise
            start, end = chunk
            first = next((i for i in range(start, end + 1) if lines[i].strip()), start)
            text = " ".join(lines[start:end + 1])
            reason = str(exc).rsplit(": ", 1)[-1]
            skipped.append(f"{_where(*places[first])}: skipped {_name_of(text)}: pycparser cannot read it ({reason})")
            for i in range(start, end + 1):
                if not _MARKER.match(lines[i]):
                    lines[i] = ""
    raise ParseError(f"{origin}: more than {MAX_SKIPPED_CHUNKS} declarations cannot be parsed")


def _parse_text(lines: list[str], preamble: str, origin: str) -> c_ast.FileAST:
    return c_parser.CParser().parse(preamble + "\n".join(lines), filename=origin)


def _places(lines: list[str], preamble: str) -> list[tuple[str, int]]:
    """(file, line) of every line, read from the line markers."""
    file, line, out = "", 1 + preamble.count("\n"), []
    for raw in lines:
        marker = _MARKER.match(raw)
        if marker:
            out.append((file, line))
            file, line = marker.group(2), int(marker.group(1))
            continue
        out.append((file, line))
        line += 1
    return out


def _error_line(message: str, places: list[tuple[str, int]]) -> int | None:
    """The index of the line a pycparser error names (`file:line:`), if it names one."""
    match = re.match(r"^(.*?):(\d+):(?:\d+:)?", message)
    if not match:
        return None
    wanted = (match.group(1), int(match.group(2)))
    return next((i for i, place in enumerate(places) if place == wanted), None)


def _first_failing(chunks: list[tuple[int, int]], lines: list[str], preamble: str,
                   origin: str) -> tuple[int, int] | None:
    """The first declaration pycparser cannot parse, for an error that names no line: the
    shortest failing prefix of whole declarations, by bisection."""
    low, high = 0, len(chunks) - 1
    while low < high:
        middle = (low + high) // 2
        try:
            _parse_text(lines[:chunks[middle][1] + 1], preamble, origin)
            low = middle + 1
        except ParseError:
            high = middle
    return chunks[low] if chunks else None


def _chunks(lines: list[str]) -> list[tuple[int, int]]:
    """First and last line of each top-level declaration: up to a top-level `;`, or the `}`
    closing a function body."""
    depth, start, bounds = 0, 0, []
    for i, raw in enumerate(lines):
        if _MARKER.match(raw):
            continue
        for char in raw:
            if char in "{(":
                depth += 1
            elif char in "})":
                depth = max(0, depth - 1)
                if char == "}" and depth == 0 and _ends_function(lines, start, i):
                    bounds.append((start, i))
                    start = i + 1
            elif char == ";" and depth == 0:
                bounds.append((start, i))
                start = i + 1
    if start < len(lines):
        bounds.append((start, len(lines) - 1))
    return bounds


def _ends_function(lines: list[str], start: int, end: int) -> bool:
    text = " ".join(lines[start:end + 1])
    opening = text.find("{")
    return opening > 0 and text[:opening].rstrip().endswith(")")


def _name_of(chunk: str) -> str:
    """What a declaration pycparser cannot read declares, as far as its words tell."""
    pointer = re.search(r"\(\s*\*\s*([A-Za-z_]\w*)\s*\)", chunk)  # typedef void (*name)(...)
    if chunk.lstrip().startswith("typedef"):
        words = re.findall(r"[A-Za-z_]\w*", chunk.rsplit("}", 1)[-1] if pointer is None else "")
        return pointer.group(1) if pointer else (words[-1] if words else "a typedef")
    tagged = re.match(r"\s*(struct|union|enum)\s+([A-Za-z_]\w*)\s*\{", chunk)
    if tagged:
        return f"{tagged.group(1)} {tagged.group(2)}"
    call = re.search(r"([A-Za-z_]\w*)\s*\(", chunk)
    words = re.findall(r"[A-Za-z_]\w*", chunk)
    return call.group(1) if call else (words[-1] if words else "a declaration")


def _text(node: c_ast.Node) -> tuple[str, str]:
    """(cffi's text, pycparser's text) of a declaration."""
    text = c_generator.CGenerator().visit(node).strip() + ";"
    return text.replace(DOTS, "..."), text


def _declared_name(node: c_ast.Node) -> str | None:
    if getattr(node, "name", None):
        return node.name
    inner = getattr(node, "type", None)
    if isinstance(inner, (c_ast.Struct, c_ast.Union, c_ast.Enum)) and inner.name:
        return f"{type(inner).__name__.lower()} {inner.name}"
    return None


class _Declared:
    """The declarations cffi has taken so far. Each new one is tried on a new FFI that includes
    them: a declaration cffi rejects halfway leaves nothing behind, one it takes replaces the lot
    (cffi completes a struct in place, so the same text cannot be declared on both)."""

    def __init__(self) -> None:
        self.ffi = cffi.FFI()
        self.ffi.cdef("".join(f"typedef int... {name};" for name in SYSTEM_INTEGERS))
        self.names: set[str] = set()
        self.kept: list[tuple[str, str]] = []  # (cffi's text, pycparser's text)

    def take(self, text: tuple[str, str], name: str | None) -> str | None:
        """None when cffi takes the declaration (now kept), else cffi's reason."""
        trial = cffi.FFI()
        trial.include(self.ffi)
        try:
            trial.cdef(text[0])
        except (cffi.CDefError, cffi.FFIError, AssertionError, TypeError, ValueError) as exc:
            return str(exc).splitlines()[0].split(": ", 1)[-1] if str(exc) else type(exc).__name__
        self.ffi = trial
        self.kept.append(text)
        if name is not None:
            self.names.add(name)
        return None


def _keep(node: c_ast.Node, declared: _Declared, skipped: list[str]) -> None:
    if isinstance(node, (c_ast.Pragma, c_ast.StaticAssert)):
        return
    if isinstance(node, c_ast.FuncDef):  # an inline function: its prototype
        node = copy.deepcopy(node.decl)
        node.storage, node.funcspec = [], []
    name = _declared_name(node)
    if name is not None and name in declared.names:
        return  # declared twice in C is fine; cffi wants it once
    reason = None
    for candidate in _forms(node):
        reason = declared.take(candidate, name)
        if reason is None:
            return
    line = _where(node.coord.file, node.coord.line) if node.coord else "?"
    skipped.append(f"{line}: skipped {name or 'a declaration'}: {reason}")


def _forms(node: c_ast.Node) -> list[tuple[str, str]]:
    """The declaration as written, then the partial forms cffi completes from the compiler."""
    forms = [_text(node)]
    body = _body(node)
    if isinstance(body, c_ast.Enum) and body.values:
        partial = copy.deepcopy(node)
        for item in _body(partial).values.enumerators:
            item.value = c_ast.ID(DOTS)
        forms.append(_text(partial))
    elif isinstance(body, (c_ast.Struct, c_ast.Union)) and body.decls:
        dotted = copy.deepcopy(node)
        if _dot_array_lengths(_body(dotted)):
            forms.append(_text(dotted))
        keyword = "struct" if isinstance(body, c_ast.Struct) else "union"
        head = f"{keyword} {body.name}" if body.name else keyword
        opaque = (f"{head} {{ ...; }}", f"{head} {{ char {DOTS}; }}")
        if isinstance(node, c_ast.Typedef):
            forms.append(tuple(f"typedef {text} {node.name};" for text in opaque))
        elif body.name and isinstance(node, c_ast.Decl) and node.name is None:
            forms.append(tuple(f"{text};" for text in opaque))
    elif isinstance(node, c_ast.Decl) and node.init is not None:
        bare = copy.deepcopy(node)
        bare.init = None
        forms.append(_text(bare))
    return forms


def _body(node: c_ast.Node) -> c_ast.Node | None:
    """The struct, union or enum a declaration or typedef defines (None for anything else)."""
    inner = getattr(node, "type", None)
    if isinstance(inner, c_ast.TypeDecl):
        inner = inner.type
    return inner if isinstance(inner, (c_ast.Struct, c_ast.Union, c_ast.Enum)) else None


def _dot_array_lengths(body: c_ast.Node) -> bool:
    """Each field array whose length is not a number gets `[...]`; True if one did."""
    changed = False
    for field in body.decls or ():
        array = field.type
        if isinstance(array, c_ast.ArrayDecl) and not isinstance(array.dim, (c_ast.Constant, type(None))):
            array.dim = c_ast.ID(DOTS)
            changed = True
    return changed


def _keep_macro(macro: _Macro, declared: _Declared, skipped: list[str]) -> None:
    if macro.name in declared.names or not macro.body:
        return
    if macro.function_like:
        if not _HELPER_MACRO.search(macro.body):  # attribute and stringizing helpers are not API
            skipped.append(f"{macro.where}: skipped {macro.name}: a function-like macro (cffi calls functions)")
        return
    if not _INTEGER_EXPRESSION.fullmatch(macro.body) or not re.search(r"\d", macro.body):
        return  # a string, a type, an alias: not a constant cffi can give
    declared.take((f"#define {macro.name} ...", ""), macro.name)
