"""Function signatures of a C header, with parameter names (cffi keeps only the types).

The header is preprocessed as for cffi (harness.cdef) and parsed with pycparser, cffi's own
parser; each parameter keeps its name and its type as C text that ffi.typeof() accepts.
"""

from __future__ import annotations

import copy
import functools
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from cffi import model
from pycparser import c_ast, c_generator, c_parser
from pycparser.c_parser import ParseError

from harness.errors import TargetError
from harness.target.cdef import preprocess_header
from harness.target.declarations import SYSTEM_INTEGERS, usable_declarations

# cffi knows these types natively; pycparser needs them declared to parse the header.
_BUILTIN_NAMES = sorted(name for name in model.PrimitiveType.ALL_PRIMITIVE_TYPES if " " not in name
                        and name not in ("char", "short", "int", "long", "float", "double", "_Bool"))
PREAMBLE = "".join(f"typedef int {name};\n" for name in (*_BUILTIN_NAMES, *SYSTEM_INTEGERS, "FILE", "va_list"))
_PREAMBLE_NAMES = frozenset((*_BUILTIN_NAMES, *SYSTEM_INTEGERS, "FILE", "va_list"))
# integer types a header's own typedefs may name (cffi's integer primitives, the POSIX ones)
_KNOWN_INTEGERS = frozenset((*(n for n, kind in model.PrimitiveType.ALL_PRIMITIVE_TYPES.items() if kind == "i"),
                             *SYSTEM_INTEGERS))


@dataclass(frozen=True)
class Param:
    """One parameter: its name (argN when the header gives none) and its C type text."""

    name: str
    ctype: str


@dataclass(frozen=True)
class Signature:
    """A function declared by the header."""

    name: str
    params: tuple[Param, ...]
    result: str
    variadic: bool = False

    def param(self, name: str) -> Param | None:
        """The parameter called name, or None."""
        return next((p for p in self.params if p.name == name), None)


def _strip_names(node: c_ast.Node) -> c_ast.Node:
    """node's type with every declarator name removed (in place on a copy made by the caller)."""
    if isinstance(node, c_ast.TypeDecl):
        node.declname = None
    for _, child in node.children():
        _strip_names(child)
    return node


def _type_text(node: c_ast.Node) -> str:
    return c_generator.CGenerator().visit(_strip_names(copy.deepcopy(node))).strip()


INTEGER_WORDS = ("char", "short", "int", "long", "size_t", "ssize_t", "int8_t", "int16_t", "int32_t", "int64_t",
                 "uint8_t", "uint16_t", "uint32_t", "uint64_t", "intptr_t", "uintptr_t", "ptrdiff_t", "unsigned",
                 "signed", "_Bool", "bool")


def is_integer(ctype: str, enums: frozenset[str] = frozenset()) -> bool:
    """Whether a C type text names an integer (or enum) type."""
    if "*" in ctype or "(" in ctype:
        return False
    words = [w for w in ctype.split() if w not in ("const", "volatile", "enum")]
    return bool(words) and (all(w in INTEGER_WORDS for w in words) or " ".join(words) in enums)


@dataclass(frozen=True)
class HeaderApi:
    """What a header declares: its functions, its function-pointer types, its enum types and its
    other names for integer types."""

    functions: dict[str, Signature]
    function_pointers: frozenset[str]
    enums: frozenset[str]
    callback_decls: dict[str, str]  # function-pointer type text -> its `RET NAME(ARGS)` shape
    callback_params: dict[str, tuple[Param, ...]] = field(default_factory=dict)  # type text -> its parameters
    skipped: tuple[str, ...] = ()  # `file:line: skipped name: why` for what cffi cannot use
    integer_aliases: frozenset[str] = frozenset()  # typedef names of integer types

    @property
    def integer_types(self) -> frozenset[str]:
        """Type names the header makes integers: its enums and its integer typedefs."""
        return self.enums | self.integer_aliases

    def callback_externs(self) -> dict[str, tuple[str, str]]:
        """type text -> (extern "Python" name, declaration) for every function-pointer type."""
        out = {}
        for index, (ctype, shape) in enumerate(sorted(self.callback_decls.items())):
            slug = "".join(c if c.isalnum() else "_" for c in ctype)[:40]
            name = f"ffih_cb{index}_{slug}".rstrip("_")
            out[ctype] = (name, shape.replace("(", f" {name}(", 1))
        return out


def _params(func: c_ast.FuncDecl) -> tuple[tuple[Param, ...], bool]:
    """A function type's parameters (named argN where the header gives no name), and whether it
    is variadic."""
    params: list[Param] = []
    variadic = False
    for index, arg in enumerate(func.args.params if func.args else ()):
        if isinstance(arg, c_ast.EllipsisParam):
            variadic = True
            continue
        text_type = _type_text(arg.type)
        if text_type != "void":
            params.append(Param(getattr(arg, "name", None) or f"arg{index}", text_type))
    return tuple(params), variadic


def _typedefs(ast: c_ast.FileAST) -> tuple[frozenset[str], frozenset[str], frozenset[str], dict[str, str],
                                           dict[str, tuple[Param, ...]]]:
    pointers, enums, aliases, shapes, params = set(), set(), set(), {}, {}
    for node in ast.ext:
        if isinstance(node, c_ast.Typedef):
            inner = node.type
            if isinstance(inner, c_ast.PtrDecl) and isinstance(inner.type, c_ast.FuncDecl):
                pointers.add(node.name)
                shapes[node.name] = _type_text(inner.type)
                params[node.name] = _params(inner.type)[0]
            elif isinstance(inner, c_ast.TypeDecl) and isinstance(inner.type, c_ast.Enum):
                enums.add(node.name)
            elif isinstance(inner, c_ast.TypeDecl) and isinstance(inner.type, c_ast.IdentifierType) \
                    and node.name not in _PREAMBLE_NAMES and "char" not in inner.type.names \
                    and is_integer(" ".join(inner.type.names), _KNOWN_INTEGERS | enums | aliases):
                aliases.add(node.name)  # typedef size_t status_t: an integer by another name
        elif isinstance(node, c_ast.Decl) and isinstance(node.type, c_ast.Enum) and node.type.name:
            enums.add(f"enum {node.type.name}")
    return frozenset(pointers), frozenset(enums), frozenset(aliases), shapes, params


def parse_signatures(text: str, origin: str = "header") -> HeaderApi:
    """Every function declaration of preprocessed C text, by name, in header order."""
    try:
        ast = c_parser.CParser().parse(PREAMBLE + text, filename=origin)
    except ParseError as exc:
        raise TargetError(f"{origin}: cannot parse the declarations: {exc}") from exc
    found: dict[str, Signature] = {}
    inline_shapes: dict[str, str] = {}
    inline_params: dict[str, tuple[Param, ...]] = {}
    for node in ast.ext:
        if not isinstance(node, c_ast.Decl) or not isinstance(node.type, c_ast.FuncDecl):
            continue
        func = node.type
        params, variadic = _params(func)
        for arg in func.args.params if func.args else ():
            kind = getattr(arg, "type", None)
            if isinstance(kind, c_ast.PtrDecl) and isinstance(kind.type, c_ast.FuncDecl):
                text_type = _type_text(kind)  # void (*)(void *) written in place
                inline_shapes[text_type] = _type_text(kind.type)
                inline_params[text_type] = _params(kind.type)[0]
        found[node.name] = Signature(node.name, params, _type_text(func.type), variadic)
    pointers, enums, aliases, shapes, callback_params = _typedefs(ast)
    return HeaderApi(found, pointers | frozenset(inline_shapes), enums, {**shapes, **inline_shapes},
                     {**callback_params, **inline_params}, integer_aliases=aliases)


def read_header(header: Path, include_dirs: tuple[Path, ...] = (),
                defines: tuple[tuple[str, str], ...] = ()) -> tuple[str, HeaderApi]:
    """The header's declarations as cffi can use them (harness.target.declarations), and what it
    declares; once per version of the file in a process (the build and the contract both need
    it), which is when a line per declaration left out is written to stderr. defines: the
    spec's, which may open parts of the header (a static-linking API)."""
    return _read_header(header, tuple(include_dirs), tuple(defines), header.stat().st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _read_header(header: Path, include_dirs: tuple[Path, ...], defines: tuple[tuple[str, str], ...],
                 mtime_ns: int) -> tuple[str, HeaderApi]:
    own = (str(header.parent), *map(str, include_dirs))
    try:
        usable = usable_declarations(preprocess_header(header, include_dirs, defines), PREAMBLE, str(header), own)
    except ParseError as exc:
        raise TargetError(f"cannot parse the declarations: {exc}") from exc
    for line in usable.skipped:
        sys.stderr.write(f"ffi-harness: {line}\n")
    return usable.cdef, replace(parse_signatures(usable.parseable, str(header)), skipped=usable.skipped)


def header_signatures(header: Path, include_dirs: tuple[Path, ...] = (),
                      defines: tuple[tuple[str, str], ...] = ()) -> HeaderApi:
    """The functions declared by a header file (system headers stubbed as for cffi)."""
    return read_header(header, include_dirs, defines)[1]
