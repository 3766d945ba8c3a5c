"""The ownership and lifetime contract of a C API, read from the [contract] table of a target spec.

    [contract]
    free = "cfg_string_free"         # default free function of owned results
    skip = ["cfg_dispatch_threaded"] # never called by the generic driver

    [contract.handles.cfg_doc]       # handle type `cfg_doc *`
    new = ["cfg_new", "cfg_parse"]   # constructors: their results are owned handles (or what they
                                     # set through their one cfg_doc ** parameter: cfg_open(&doc))
    free = "cfg_free"                # destructor: ends the handle, its borrows, its registrations

    [contract.functions.cfg_get]
    returns = "borrowed"             # value (default) | static | owned | borrowed
    owner = "doc"                    # borrowed from this parameter ...
    until = ["cfg_set", "cfg_remove"] # ... until one of these is called on it (or it is freed; "*": any call)
    free = "cfg_string_free"         # owned: released with this (default: [contract].free)
    length = "out_len"               # a size_t * parameter that receives the result's length
    buffers = { text = "len" }       # pointer parameter -> its length parameter (input bytes; an
                                     # integer, or a T * holding it in and what was read out)
    out_buffers = { out = "cap" }    # caller-provided output buffer -> its capacity parameter (an
                                     # integer, or a T * holding it in and the length written out)
    takes = ["comment"]              # the library frees this malloc'd argument (with free())
    nullable = ["comment"]           # NULL is allowed here (and always passed for a pointer the
                                     # driver cannot fill: a struct of options whose NULL is the default)
    ranges = { level = [1, 9] }      # an integer parameter's valid values (both ends included)
    keeps = { dict = "stream" }      # an input the library keeps using: alive until stream is freed
    child_of = { child = "parent" }  # a handle borrowed from the other argument (a returns =
                                     # "borrowed" handle result whose owner it is), as the library
                                     # assumes without checking
    outputs.out = { returns = "owned", length = "out_len" }  # a T ** out-parameter's contract
    callback = "fn"                  # registers fn: it may be called after this call returns ...
    user_data = "user_data"          # ... with this user_data, kept alive by the caller ...
    release = "release"              # ... and this is called exactly once when it ends ...
    ends = { cfg_unwatch = "id" }    # ... by cfg_unwatch(id = our result) or the owner's free
    reentrant = ["cfg_unwatch"]      # calls the callback may make (as the header allows)

    [contract.callbacks.cfg_watch_fn]  # what the driver may read of a callback's arguments
    user_data = "user_data"          # the registration's user_data (default: the first void *)
    buffers = { value = "len" }      # a pointer and the parameter holding its length
    strings = ["key"]                # C strings (default: every char * not in buffers)

A function returning a handle type that is not one of its constructors says what it returns:
"borrowed" (a child of `owner`, usable in other calls until `owner` is freed or one of `until`
is called on it; never freed by the driver, and ended with everything borrowed from it),
"owned" with the handle's destructor (a new handle), or "static". A borrow ends when one of
`until` is called on its owner's object, through any handle of it.

A function the spec names as a `free` (the default, a result's, an output's; a skipped
function's too) is only called to release what the library returned, never as a step.

Everything not written is inferred from the header: `const char *` parameters are C strings, a
pointer to a handle type is a live handle, `T *` to a number is an out-parameter, a function
pointer without `callback` is only called during the call, a callback's other pointers are
never read. A buffer's length counts elements of the pointer's type (a `size_t *` of n holds n
size_t values); `void *`, `char *` and `uint8_t *` count bytes. Mistakes are TargetErrors
naming the spec line.
"""

from __future__ import annotations

from pathlib import Path

from harness.contract.model import (
    CHAR_TYPES,
    FUNCTION_KEYS,
    RETURN_KINDS,
    CallbackContract,
    Contract,
    FunctionContract,
    HandleType,
    Lifetime,
    Registration,
    handle_name,
    pointee,
)
from harness.contract.spec_text import SpecText, name_pairs, names
from harness.target.header import HeaderApi, Signature, header_signatures, is_integer
from harness.target.spec import Target


def made_through(sig: Signature, type_name: str) -> str | None:
    """The `T **` parameter a constructor of handle type T hands its handle back through (the
    sqlite3_open(path, &db) shape), when it does not return it: the only such parameter."""
    if pointee(sig.result) == type_name:
        return None
    found = [p.name for p in sig.params if p.ctype.count("*") == 2
             and handle_name(p.ctype.rsplit("*", 1)[0], (type_name,)) is not None]
    return found[0] if len(found) == 1 else None


class _Loader:
    def __init__(self, table: dict, api: HeaderApi, spec: SpecText) -> None:
        self.table = table
        self.api = api
        self.signatures = api.functions
        self.spec = spec
        self.integers = api.integer_types
        self.default_free = table.get("free")

    def function(self, name: str, *needles: str) -> Signature:
        sig = self.signatures.get(name)
        if sig is None:
            raise self.spec.error(f"unknown function {name!r}: the header does not declare it", *needles, name)
        return sig

    def param(self, sig: Signature, name: str, what: str) -> str:
        param = sig.param(name)
        if param is None:
            known = ", ".join(p.name for p in sig.params) or "none"
            raise self.spec.error(f"{sig.name}: {what} {name!r} is not a parameter (parameters: {known})",
                                  f"contract.functions.{sig.name}", name)
        return param.ctype

    def handles(self) -> dict[str, HandleType]:
        handles: dict[str, HandleType] = {}
        raw = self.table.get("handles", {})
        for type_name, entry in raw.items():
            where = f"contract.handles.{type_name}"
            if not isinstance(entry, dict) or "free" not in entry or "new" not in entry:
                raise self.spec.error(f"handle type {type_name!r} needs `new` (constructors) and `free` "
                                      "(its destructor)", where)
            new = names(entry["new"], self.spec, "new", where)
            for ctor in new:
                sig = self.function(ctor, where)
                if pointee(sig.result) != type_name and made_through(sig, type_name) is None:
                    raise self.spec.error(f"constructor {ctor} returns {sig.result!r}, not {type_name} *, and has no "
                                          f"{type_name} ** parameter to hand it back through", where, ctor)
            free = self.function(entry["free"], where)
            if not free.params or pointee(free.params[0].ctype) != type_name:
                raise self.spec.error(f"destructor {free.name} does not take a {type_name} * first", where,
                                      entry["free"])
            handles[type_name] = HandleType(type_name, new, free.name)
        return handles

    def lifetime(self, sig: Signature, entry: dict, ctype: str, where: str) -> Lifetime:
        kind = entry.get("returns", "value" if "*" not in ctype else None)
        if kind is None:
            raise self.spec.error(f"{sig.name}: returns a pointer ({ctype}); say whether it is static, owned or "
                                  "borrowed (returns = ...)", where)
        if kind not in RETURN_KINDS:
            raise self.spec.error(f"{sig.name}: returns = {kind!r} is not one of {RETURN_KINDS}", where, "returns")
        if kind != "value" and "*" not in ctype:
            raise self.spec.error(f"{sig.name}: returns = {kind!r} but the header's type {ctype!r} is not a "
                                  "pointer", where, "returns")
        for key, applies in (("owner", "borrowed"), ("until", "borrowed"), ("free", "owned")):
            if key in entry and kind != applies:  # a key with no effect is a mistake, not a no-op
                raise self.spec.error(f"{sig.name}: `{key}` only applies to a {applies} result, and this one is "
                                      f"{kind!r}", where, key)
        free = entry.get("free", self.default_free) if kind == "owned" else None
        if kind == "owned":
            if not free:
                raise self.spec.error(f"{sig.name}: an owned result needs a free function (free = ..., or "
                                      "[contract].free)", where, "returns")
            self.function(free, where, "free")
        owner = entry.get("owner")
        if kind == "borrowed" and owner is not None:
            self.param(sig, owner, "owner")
        until = names(entry.get("until", []), self.spec, "until", where, "until")
        for name in until:
            if name != "*":
                self.function(name, where, "until")
        length = entry.get("length")
        if length is not None and not self.param(sig, length, "length").endswith("*"):
            raise self.spec.error(f"{sig.name}: length {length!r} must be a pointer that receives the length",
                                  where, "length")
        return Lifetime(kind, free, owner, until, length)

    def functions(self, handles: dict[str, HandleType]) -> tuple[dict[str, FunctionContract], tuple[str, ...]]:
        raw = self.table.get("functions", {})
        skip = names(self.table.get("skip", []), self.spec, "skip", "skip")
        for name in [*raw, *skip]:
            self.function(name, f"contract.functions.{name}", "skip")
        contracts: dict[str, FunctionContract] = {}
        for name, sig in self.signatures.items():
            if name in skip or sig.variadic:
                continue
            entry = raw.get(name, {})
            where = f"contract.functions.{name}"
            unknown = set(entry) - FUNCTION_KEYS
            if unknown:
                raise self.spec.error(f"{name}: unknown keys {sorted(unknown)}; known: {sorted(FUNCTION_KEYS)}",
                                      where, *sorted(unknown))
            contracts[name] = self.contract(sig, entry, handles, where)
        return contracts, skip

    def contract(self, sig: Signature, entry: dict, handles: dict[str, HandleType], where: str) -> FunctionContract:
        if handle_name(sig.result, handles) is not None:
            owners = [h for h in handles.values() if sig.name in h.new]
            ignored = sorted({"returns", "free", "owner", "until"} & set(entry)) if owners else []
            if ignored:
                raise self.spec.error(f"{sig.name}: {ignored} have no effect on a constructor of "
                                      f"{owners[0].name}: its result is freed by {owners[0].free}", where, *ignored)
            returns = Lifetime("owned", owners[0].free) if owners else self.lifetime(sig, entry, sig.result, where)
        else:
            returns = self.lifetime(sig, entry, sig.result, where)
        buffers = name_pairs(entry.get("buffers", {}), self.spec, "buffers", where, "buffers")
        out_buffers = name_pairs(entry.get("out_buffers", {}), self.spec, "out_buffers", where, "out_buffers")
        for pointer, length in (*buffers, *out_buffers):
            if "*" not in self.param(sig, pointer, "buffer"):
                raise self.spec.error(f"{sig.name}: buffer {pointer!r} is not a pointer in the header", where, pointer)
            length_type = self.param(sig, length, "length")
            in_out = length_type.count("*") == 1 and not length_type.startswith("const") \
                and is_integer(pointee(length_type) or "", self.integers)
            if not is_integer(length_type, self.integers) and not in_out:
                raise self.spec.error(f"{sig.name}: length {length!r} of {pointer!r} is not an integer in the "
                                      "header (or a pointer to one)", where, length)
        takes = names(entry.get("takes", []), self.spec, "takes", where, "takes")
        nullable = names(entry.get("nullable", []), self.spec, "nullable", where, "nullable")
        for name in (*takes, *nullable):
            ctype = self.param(sig, name, "parameter")
            if "*" not in ctype and ctype not in self.api.function_pointers:
                raise self.spec.error(f"{sig.name}: {name!r} is not a pointer in the header", where, name)
        outputs = []
        for param, out in entry.get("outputs", {}).items():
            ctype = self.param(sig, param, "output")
            if ctype.count("*") < 2 or not isinstance(out, dict):
                raise self.spec.error(f"{sig.name}: output {param!r} must be a T ** parameter with a table "
                                      "{ returns = ..., ... }", where, param)
            outputs.append((param, self.lifetime(sig, out, ctype.rsplit("*", 1)[0].strip(), where)))
        for handle in handles.values():  # a constructor that hands its handle back through a T **
            param = made_through(sig, handle.name) if sig.name in handle.new else None
            if param is None:
                continue
            if param in dict(outputs):
                raise self.spec.error(f"{sig.name}: output {param!r} has no effect: {sig.name} is a constructor "
                                      f"of {handle.name}, freed by {handle.free}", where, param)
            outputs.append((param, Lifetime("owned", handle.free)))
        return FunctionContract(sig, returns, buffers, out_buffers, takes, nullable, tuple(outputs),
                                self.registration(sig, entry, where), self.ranges(sig, entry, where),
                                self.keeps(sig, entry, handles, where), self.child_of(sig, entry, handles, where))

    def child_of(self, sig: Signature, entry: dict, handles: dict[str, HandleType], where: str
                 ) -> tuple[tuple[str, str], ...]:
        """`child_of = { child = "parent" }`: a handle argument that must be one borrowed from
        another handle argument (the library assumes it without checking)."""
        pairs = name_pairs(entry.get("child_of", {}), self.spec, "child_of", where, "child_of")
        for child, parent in pairs:
            for name in (child, parent):
                if handle_name(self.param(sig, name, "child_of parameter"), handles) is None:
                    raise self.spec.error(f"{sig.name}: child_of {name!r} is not a handle parameter (one of the "
                                          "[contract.handles] types)", where, name)
            if child == parent or child in entry.get("takes", []):
                raise self.spec.error(f"{sig.name}: child_of {child!r} must be another parameter's child and "
                                      "not handed over", where, child)
        return pairs

    def keeps(self, sig: Signature, entry: dict, handles: dict[str, HandleType], where: str
              ) -> tuple[tuple[str, str], ...]:
        """`keeps = { input = "handle" }`: an input the library goes on using after the call, until
        that handle parameter's handle is freed."""
        kept = name_pairs(entry.get("keeps", {}), self.spec, "keeps", where, "keeps")
        for param, owner in kept:
            if "*" not in self.param(sig, param, "kept input"):
                raise self.spec.error(f"{sig.name}: kept input {param!r} is not a pointer in the header", where, param)
            if handle_name(self.param(sig, owner, "keeper"), handles) is None:
                raise self.spec.error(f"{sig.name}: {param!r} is kept by {owner!r}, which is not a handle "
                                      f"parameter (one of the [contract.handles] types)", where, param)
        return kept

    def ranges(self, sig: Signature, entry: dict, where: str) -> tuple[tuple[str, int, int], ...]:
        """`ranges = { param = [low, high] }`: integer parameters and their valid values."""
        raw = entry.get("ranges", {})
        if not isinstance(raw, dict):
            raise self.spec.error(f"{sig.name}: ranges must be a table of parameter = [lowest, highest]",
                                  where, "ranges")
        found = []
        for name, bounds in raw.items():
            if not is_integer(self.param(sig, name, "ranged parameter"), self.integers):
                raise self.spec.error(f"{sig.name}: range of {name!r}: not an integer in the header", where, name)
            valid = isinstance(bounds, list) and len(bounds) == 2 and all(
                isinstance(b, int) and not isinstance(b, bool) for b in bounds)
            if not valid or bounds[0] > bounds[1]:
                raise self.spec.error(f"{sig.name}: range of {name!r} must be [lowest, highest], two integers "
                                      f"with lowest <= highest (got {bounds!r})", where, name)
            found.append((name, bounds[0], bounds[1]))
        return tuple(found)

    def callbacks(self) -> dict[str, CallbackContract]:
        """A CallbackContract for every function-pointer type: the [contract.callbacks] entry
        (checked against the type's parameters), else the header's defaults."""
        raw = self.table.get("callbacks", {})
        for name in raw:
            if name not in self.api.callback_params:
                known = ", ".join(sorted(self.api.callback_params)) or "none"
                raise self.spec.error(f"callbacks: {name!r} is not a function-pointer type of the header "
                                      f"(known: {known})", f"contract.callbacks.{name}")
        return {ctype: self.callback(ctype, params, raw.get(ctype, {}))
                for ctype, params in self.api.callback_params.items()}

    def callback(self, ctype: str, params: tuple, entry: dict) -> CallbackContract:
        where = f"contract.callbacks.{ctype}"
        unknown = set(entry) - {"user_data", "strings", "buffers"}
        if unknown:
            raise self.spec.error(f"callbacks.{ctype}: unknown keys {sorted(unknown)}; known: buffers, strings, "
                                  "user_data", where, *sorted(unknown))
        types = {p.name: p.ctype for p in params}

        def known(name: str, what: str) -> str:
            if name not in types:
                raise self.spec.error(f"callbacks.{ctype}: {what} {name!r} is not a parameter (parameters: "
                                      f"{', '.join(types) or 'none'})", where, name)
            return types[name]

        user_data = entry.get("user_data") or next((p.name for p in params if p.ctype == "void *"), None)
        if "user_data" in entry and "*" not in known(user_data, "user_data"):
            raise self.spec.error(f"callbacks.{ctype}: user_data {user_data!r} is not a pointer", where, "user_data")
        buffers = name_pairs(entry.get("buffers", {}), self.spec, "buffers", where, "buffers")
        for pointer, length in buffers:
            if "*" not in known(pointer, "buffer"):
                raise self.spec.error(f"callbacks.{ctype}: buffer {pointer!r} is not a pointer", where, pointer)
            if not is_integer(known(length, "length"), self.integers):
                raise self.spec.error(f"callbacks.{ctype}: length {length!r} is not an integer", where, length)
        in_buffers = {pointer for pointer, _ in buffers}
        default = [p.name for p in params if pointee(p.ctype) in CHAR_TYPES and p.name not in in_buffers]
        strings = names(entry.get("strings", default), self.spec, "strings", where, "strings")
        for name in strings:
            if pointee(known(name, "string")) not in CHAR_TYPES:
                raise self.spec.error(f"callbacks.{ctype}: string {name!r} is not a char pointer", where, name)
        return CallbackContract(ctype, user_data, tuple(strings), buffers)

    def registration(self, sig: Signature, entry: dict, where: str) -> Registration | None:
        callback = entry.get("callback")
        if callback is None:
            return None
        if self.param(sig, callback, "callback") not in self.api.function_pointers:
            raise self.spec.error(f"{sig.name}: callback {callback!r} is not a function pointer", where, "callback")
        user_data = entry.get("user_data")
        if user_data is not None and "*" not in self.param(sig, user_data, "user_data"):
            raise self.spec.error(f"{sig.name}: user_data {user_data!r} is not a pointer", where, "user_data")
        release = entry.get("release")
        if release is not None:
            self.param(sig, release, "release")
        ends = []
        for function, param in name_pairs(entry.get("ends", {}), self.spec, "ends", where, "ends"):
            self.param(self.function(function, where, "ends"), param, "registration id")
            ends.append((function, param))
        reentrant = tuple(self.function(name, where, "reentrant").name for name in entry.get("reentrant", []))
        return Registration(callback, user_data, release, tuple(ends), reentrant)


def load_contract(table: dict, api: HeaderApi, spec_path: Path | None = None, spec_text: str = "") -> Contract:
    """Validate a [contract] table against the header's API; TargetError naming the spec line."""
    spec = SpecText(spec_path, spec_text)
    unknown = set(table) - {"free", "skip", "handles", "functions", "callbacks"}
    if unknown:
        raise spec.error(f"[contract]: unknown keys {sorted(unknown)}", *sorted(unknown))
    loader = _Loader(table, api, spec)
    if loader.default_free is not None:
        loader.function(loader.default_free, "free")
    handles = loader.handles()
    functions, skipped = loader.functions(handles)
    contract = Contract(handles, functions, skipped, api, loader.callbacks(), loader.default_free,
                        _named_releasers(table.get("functions", {})))
    _check_children_exist(contract, spec)
    return contract


def _named_releasers(entries: dict) -> frozenset[str]:
    """Every function a function entry names as `free` (of its result or an output), skipped
    functions' entries included: with dt_render skipped, dt_text_free is still no step to call
    on the driver's own string."""
    named = set()
    for entry in entries.values():
        if not isinstance(entry, dict):
            continue
        lifetimes = [entry, *(out for out in entry.get("outputs", {}).values() if isinstance(out, dict))]
        named |= {lt["free"] for lt in lifetimes if isinstance(lt.get("free"), str)}
    return frozenset(named)


def _check_children_exist(contract: Contract, spec: SpecText) -> None:
    """A child_of argument needs some function returning a borrowed handle of its type."""
    lenders = {h.name for fc in contract.functions.values() if fc.returns.kind == "borrowed"
               and (h := contract.handle_of(fc.signature.result)) is not None}
    for fc in contract.functions.values():
        for child, _ in fc.child_of:
            handle = contract.handle_of(fc.signature.param(child).ctype)
            if handle is not None and handle.name not in lenders:
                raise spec.error(f"{fc.name}: child_of {child!r} needs a function returning a borrowed "
                                 f"{handle.name} * (returns = \"borrowed\", owner = ...), and none does",
                                 f"contract.functions.{fc.name}", child)


def target_contract(target: Target) -> Contract:
    """The target's contract checked against its header (an empty [contract] when none is written)."""
    text = target.spec_path.read_text() if target.spec_path else ""
    return load_contract(target.contract, header_signatures(target.header, target.include_dirs, target.defines),
                         target.spec_path, text)
