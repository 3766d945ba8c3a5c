"""The per-function part of a contract's native loop: for each planned function, the C step that
decodes its arguments from the input as the Python driver does (harness.sequence.plan, .values),
makes the call and takes what it hands back (handles, owned and borrowed pointers). Generated
per function from the same plans, so one input makes the same calls on either path; the
helpers it calls are harness/data/sequence_loop.h."""

from __future__ import annotations

import re
from typing import Any

from harness.contract.model import CHAR_TYPES, Contract, FunctionContract, Lifetime
from harness.sequence.plan import PlanShape
from harness.sequence.results import remembers
from harness.sequence.state import Arg
from harness.sequence.values import element_size, integer_limits

# role -> how sequence_loop.h's say_arg shows it (the record the differential test compares)
ROLES = {"handle": "h", "cstring": "s", "takes": "t", "buffer": "b", "length_of": "i", "out_buffer": "o",
         "capacity_of": "i", "capacity_cell_of": "C", "cell": "e", "out_pointer": "e", "int": "i", "char": "c",
         "float": "f", "callback": "F", "callback_sync": "F", "release": "F", "user_data": "u",
         "registration_id": "i", "child": "h", "parent_of": "h", "length_cell_of": "C", "null": "n"}
HANDLE_ROLES = ("handle", "child", "parent_of")  # arguments whose value is a live handle
MAX_ARGS = 16


class NativeUnsupported(Exception):
    """The contract needs a form the native loop does not make; the message says which."""


def _int_literal(value: int) -> str:
    if value < 0:
        return f"(-(i128){-(value + 1)}ULL - 1)"
    return f"((i128){value}ULL)"


def _unconst(ctype: str) -> str:
    return " ".join(w for w in ctype.split() if w != "const")


class StepWriter:
    """Generates the C step of each planned function of one driver's plans."""

    def __init__(self, contract: Contract, ffi: Any, plans: dict[str, list[Arg]], destroys: set[str]) -> None:
        self.contract, self.ffi, self.plans, self.destroys = contract, ffi, plans, destroys
        self.names = list(plans)
        self.types = list(contract.handles)
        self.table = list(self.names)  # function pointers handed over by Python, in this order
        self.callbacks: dict[str, str] = {}  # function-pointer type -> the loop's callback

    def pointer(self, name: str) -> str:
        if name not in self.table:
            self.table.append(name)
        return f"fn_{self.table.index(name)}"

    # -- what the loop cannot make -------------------------------------------------------
    def check(self, fc: FunctionContract, plan: list[Arg]) -> None:
        def no(why: str) -> NativeUnsupported:
            return NativeUnsupported(f"{fc.name}: {why}")
        if len(plan) > MAX_ARGS:
            raise no(f"more than {MAX_ARGS} parameters")
        for arg in plan:
            if arg.role not in ROLES:
                raise no(f"parameter {arg.name} ({arg.role})")
        if fc.signature.variadic:
            raise no("variadic")
        if self.result_kind(fc) not in ("void", "int", "bool", "float", "pointer"):
            raise no(f"returns {fc.signature.result}")
        if fc.name in self.destroys and [a.role for a in plan] != ["handle"]:
            raise no("a destructor with more than its handle")

    def result_kind(self, fc: FunctionContract) -> str:
        """void, int, bool, float, pointer (what the loop can take), or what cffi calls the type."""
        ctype = self.ffi.typeof(_unconst(fc.signature.result))
        if ctype.kind in ("void", "pointer", "enum"):
            return "int" if ctype.kind == "enum" else ctype.kind
        if ctype.kind != "primitive":
            return ctype.kind
        if ctype.cname == "_Bool":
            return "bool"
        if ctype.cname in ("float", "double"):
            return "float"
        return "char" if "char" in ctype.cname and ctype.cname != "signed char" and ctype.cname != "unsigned char" \
            else "int" if ctype.cname not in ("long double", "wchar_t", "char16_t", "char32_t") else ctype.cname

    def results(self, fc: FunctionContract) -> list[tuple[Lifetime, str]]:
        """Each pointer the call hands back: (its lifetime, its C type)."""
        out = [(fc.returns, fc.signature.result)] if self.result_kind(fc) == "pointer" else []
        for name, lifetime in fc.outputs:
            ctype = fc.signature.param(name).ctype  # type: ignore[union-attr]
            out.append((lifetime, _unconst(ctype).rsplit("*", 1)[0].strip()))
        return out

    def owned_handle(self, fc: FunctionContract, handle: str, lifetime: Lifetime) -> bool:
        h = self.contract.handles[handle]
        return fc.name in h.new or (lifetime.kind == "owned" and lifetime.free == h.free)

    # -- one step ----------------------------------------------------------------------------
    def step(self, index: int, fc: FunctionContract, plan: list[Arg]) -> str:
        shape = PlanShape.of(plan)
        at = {a.name: i for i, a in enumerate(plan)}
        lines = [self.invoker(index, fc, plan, at),
                 f"static void step_{index}(void) {{  /* {fc.name} */", "    Call c;"]
        owned = int(fc.name in self.destroys)  # a destructor's handle is one the driver owns
        for other in shape.handles:
            t = self.types.index(other)  # type: ignore[arg-type]
            lines.append(f"    if (!live_count({t}, {owned}) && !construct_{t}()) return;")
        for other, needed in shape.taken:
            t = self.types.index(other)  # type: ignore[arg-type]
            lines.append(f"    if (live_count({t}, 1) < {needed} && !construct_{t}()) return;")
        lines.append("    memset(&c, 0, sizeof c);")
        lines.append("    edited = 0;")
        decoded: list[Arg] = []
        taken_blocks = []
        for arg in (*shape.first, *shape.second):
            lines += self.value(fc, arg, at, decoded)
            if arg.role in ("takes", "buffer") and arg.name in fc.takes:
                taken_blocks.append(at[arg.name])
            decoded.append(arg)
        lines += [f"    ffih_call_{fc.name}(&c);", f"    release_args(&c, {len(plan)});"]
        if any(a.role in ("handle", "child") for a in plan):
            lines.append("    return;")
            lines.append("skip:")
            lines.append(f"    release_args(&c, {len(plan)});")
            lines += [f"    free(c.p[{i}]);" for i in taken_blocks]
        lines.append("}")
        return "\n".join(lines)

    def value(self, fc: FunctionContract, arg: Arg, at: dict[str, int], decoded: list[Arg]) -> list[str]:
        i, role, nullable = at[arg.name], arg.role, int(arg.name in fc.nullable)
        ffi = self.ffi
        if role == "handle":
            t = self.types.index(arg.other)  # type: ignore[arg-type]
            if arg.taken:  # owned, and none that an argument decoded before is inside
                others = [at[a.name] for a in decoded if a.role in HANDLE_ROLES]
                owned = 1
            else:  # none inside a handle this call hands over
                others = [at[a.name] for a in decoded if a.role in HANDLE_ROLES and a.name in fc.takes]
                owned = int(fc.name in self.destroys)
            lines = [f"    {{ static const int others[] = {{{', '.join(map(str, others)) or '-1'}}};"]
            pick = f"pick_handle(&c, {i}, {t}, {owned}, {int(arg.taken)}, others, {len(others)})"
            if nullable and not arg.taken:
                lines.append(f"      if (choose(0, 15) != 0 && !{pick}) goto skip; }}")
            else:
                lines.append(f"      if (!{pick}) goto skip; }}")
            return lines
        if role == "child":
            t, parent = self.types.index(arg.other), self.types.index(arg.owner_type)  # type: ignore[arg-type]
            return [f"    if (!pick_child(&c, {i}, {t}, {parent})) goto skip;"]
        if role == "parent_of":
            return [f"    parent_of(&c, {i}, {at[arg.other]});"]  # type: ignore[index]
        if role in ("cstring", "takes"):
            return [f"    arg_text(&c, {i}, {nullable}, {int(role == 'takes')});"]
        if role == "buffer":
            size = element_size(ffi, arg.ctype)
            return [f"    arg_buffer(&c, {i}, {size}, {nullable}, {int(arg.name in fc.takes)});"]
        if role == "length_of":
            return [f"    c.v[{i}] = (i128)c.len[{at[arg.other]}];"]  # type: ignore[index]
        if role == "length_cell_of":
            j = at[arg.other]  # type: ignore[index]
            cell = _unconst(arg.ctype)
            return [f"    arg_cell(&c, {i}, {ffi.sizeof(ffi.typeof(cell).item)});",
                    f"    *({cell})c.p[{i}] = c.len[{j}]; c.cap[{i}] = c.len[{j}];"]
        if role == "null":
            return []  # c.p[i] stays NULL
        if role == "out_buffer":
            return [f"    arg_out_buffer(&c, {i}, {element_size(ffi, arg.ctype)});"]
        if role == "capacity_of":
            return [f"    c.v[{i}] = (i128)c.cap[{at[arg.other]}];"]  # type: ignore[index]
        if role == "capacity_cell_of":
            j = at[arg.other]  # type: ignore[index]
            cell = _unconst(arg.ctype)
            return [f"    arg_cell(&c, {i}, {ffi.sizeof(ffi.typeof(cell).item)});",
                    f"    *({cell})c.p[{i}] = c.cap[{j}]; c.cap[{i}] = c.cap[{j}];"]
        if role in ("cell", "out_pointer"):
            return [f"    arg_cell(&c, {i}, {ffi.sizeof(ffi.typeof(_unconst(arg.ctype)).item)});"]
        if role in ("int", "char"):
            low, high = arg.bounds if arg.bounds is not None else integer_limits(ffi, arg.ctype)
            bounded = int(arg.bounds is not None)
            return [f"    c.v[{i}] = edge_int({_int_literal(low)}, {_int_literal(high)}, {bounded});"]
        if role == "float":
            return [f"    arg_float(&c, {i});"]
        if role in ("callback", "callback_sync", "release"):
            callback = self.callbacks.get(arg.ctype, "0")
            if role == "release" and nullable:
                return [f"    c.p[{i}] = choose(0, 7) == 0 ? 0 : (void *){callback};"]
            return [f"    c.p[{i}] = (void *){callback};"]
        if role == "user_data":
            return [f"    arg_token(&c, {i});"]
        if role == "registration_id":
            owners = [at[a.name] for a in decoded if a.role == "handle"]
            function = self.names.index(arg.other) if arg.other in self.names else -2
            low, high = integer_limits(ffi, arg.ctype)
            return [f"    {{ int owners[] = {{{', '.join(f'c.serial[{k}]' for k in owners) or '0'}}};",
                    f"      if (!pick_registration(&c.v[{i}], {function}, owners, {len(owners)}))",
                    f"          c.v[{i}] = edge_int({_int_literal(low)}, {_int_literal(high)}, 0); }}"]
        raise NativeUnsupported(f"{fc.name}: parameter {arg.name} ({role})")

    def invoker(self, index: int, fc: FunctionContract, plan: list[Arg], at: dict[str, int]) -> str:
        """ffih_call_NAME: the call with its arguments decoded, and what follows it. The frame
        under the library's names it, as cffi's _cffi_f_NAME does (harness.triage.finding)."""
        body = [re.sub(r"\bc\.", "cp->", line).replace("&c,", "cp,") for line in self.call(index, fc, plan, at)]
        return "\n".join([f"__attribute__((noinline)) static void ffih_call_{fc.name}(Call *cp) {{", *body, "}"])

    def call(self, index: int, fc: FunctionContract, plan: list[Arg], at: dict[str, int]) -> list[str]:
        """driver.py's _call: the call, then what it ended, what it lent and what it made."""
        kind = self.result_kind(fc)
        roles = "".join(ROLES[a.role] for a in plan)
        shape = PlanShape.of(plan)
        handles = [at[a.name] for a in (*shape.first, *shape.second) if a.role in HANDLE_ROLES]  # decode order
        lines = ["    char *said = 0;", "    if (recording) {", "        size_t mark = record_len;",
                 f'        say("{fc.name}(");']
        lines += [f"        say_arg(&c, {i}, '{r}');" for i, r in enumerate(roles)]
        lines += ['        say(")");', "        said = take_said(mark);", "    }",
                  f"    int hs[{len(handles) or 1}], nh = 0;"]
        lines += [f"    if (c.serial[{i}]) hs[nh++] = c.serial[{i}];" for i in handles]
        destroyer = fc.name in self.destroys
        lines.append(f"    int target = {'nh ? hs[0] : 0' if destroyer else '0'}, nended = 0;")
        ids = [at[a.name] for a in plan if a.role == "registration_id"]
        lines.append(f"    i128 ids[] = {{{', '.join(f'c.v[{k}]' for k in ids) or '0'}}};")
        lines.append(f"    int *ended = ending_begin(target, ids, {len(ids)}, hs, nh, &nended);")
        taken = [at[name] for name in shape.taken_names]
        lines += [f"    int taken[] = {{{', '.join(f'c.serial[{k}]' for k in taken) or '0'}}};",
                  f"    static const int handle_args[] = {{{', '.join(map(str, handles)) or '0'}}};",
                  f"    int gone[nhandles + {len(taken) + 2}];",
                  f"    int ngone = ending_handles(gone, target, taken, {len(taken)}, &c, handle_args, "
                  f"{len(handles)}, {index});"]
        args = ", ".join(f"c.v[{i}]" if r in "ic" else f"c.f[{i}]" if r == "f" else f"c.p[{i}]"
                         for i, r in enumerate(roles))
        fn = self.pointer(fc.name)
        lines.append(f'    calling = "{fc.name}";')
        if kind == "void":
            lines += [f"    {fn}({args});", "    int outcome = OUT_NONE;"]
        elif kind == "pointer":
            lines += [f"    void *r = (void *){fn}({args});", "    int outcome = r ? OUT_PTR : OUT_NULL;"]
        elif kind == "float":
            lines += [f"    (void){fn}({args});", "    int outcome = OUT_FLOAT;"]
        else:
            lines += [f"    i128 r = {fn}({args});",
                      f"    int outcome = {'OUT_BOOL' if kind == 'bool' else 'int_outcome(r)'};"]
        lines += ["    int before = made;", f"    observe({index}, outcome);"]
        for param, owner in fc.keeps:  # kept by a handle (not the one destroyed), or to the input's end
            i, keeper = at[param], at.get(owner)
            serial = f"(c.serial[{keeper}] == target ? 0 : c.serial[{keeper}])" if keeper is not None else "0"
            lines.append(f"    keep_with({serial}, c.owned[{i}] ? c.p[{i}] : 0); c.owned[{i}] = 0;")
        lines.append("    if (target) ended = ending_owned_by(target, ended, &nended);")
        lines += ["    if (ngone) forget_all(gone, ngone, target);", "    ending_end(ended, nended);",
                  f"    if (nborrows) check_borrows({index}, hs, nh, target);"]
        if kind in ("int", "bool") and remembers(plan):
            lines.append("    take_int(r);")
        reg = fc.registration
        if reg is not None:
            made = {"int": "r > 0", "bool": "r > 0", "pointer": "r != 0"}.get(kind, "1")
            token = f"c.p[{at[reg.user_data]}]" if reg.user_data else "0"
            release = f"c.p[{at[reg.release]}] != 0" if reg.release else "0"
            ident = "r" if kind in ("int", "bool") else "0"
            lines.append(f"    if ({made}) registered({ident}, nh ? hs[0] : 0, {index}, {release}, {token});")
        returned = kind == "pointer"
        for k, (lifetime, ctype) in enumerate(self.results(fc)):
            pointer = "r" if k == 0 and returned else f"*(void **)c.p[{at[fc.outputs[k - returned][0]]}]"
            lines += self.take_pointer(index, fc, lifetime, ctype, pointer, at)
        lines += ["    if (recording) {", '        say("%s -> ", said);', "        free(said);"]
        lines.append({"void": '        say("None");', "pointer": '        say(r ? "ptr" : "null");',
                      "float": '        say("float");', "bool": '        say(r ? "True" : "False");'
                      }.get(kind, "        say_int(r);"))
        lines += ['        for (int k = before + 1; k <= made; k++) say(" new h%d", k);',
                  '        say("\\n");', "    }", '    calling = "";']
        return lines

    def take_pointer(self, index: int, fc: FunctionContract, lifetime: Lifetime, ctype: str, pointer: str,
                     at: dict[str, int]) -> list[str]:
        """results.py's _take_pointer: a new handle, or read (and freed when owned, checked for
        changes while borrowed)."""
        handle = self.contract.handle_of(ctype)
        lines = [f"    {{ void *got = {pointer};", "      if (got) {"]
        if handle is not None and self.owned_handle(fc, handle.name, lifetime):
            lines += [f"        new_handle({self.types.index(handle.name)}, got);", "    } }"]
            return lines
        if handle is not None and lifetime.kind != "owned":  # lent: from its owner until `until`, or static
            t = self.types.index(handle.name)
            if lifetime.kind != "borrowed":
                return [*lines, f"        lent_handle({t}, got, 0, 0, 0);", "    } }"]
            until = self.until(lifetime)
            return [*lines, f"        static const int until[] = {{{', '.join(map(str, until)) or '0'}}};",
                    f"        lent_handle({t}, got, {self.lender(lifetime, at)}, until, {len(until)});", "    } }"]
        if lifetime.kind not in ("owned", "static", "borrowed"):
            return []
        item = ffi_item(self.ffi, ctype)
        if lifetime.length:
            cell = _unconst(fc.signature.param(lifetime.length).ctype)  # type: ignore[union-attr]
            size = f"(size_t)*({cell})c.p[{at[lifetime.length]}]"
        elif item in CHAR_TYPES:
            size = "strlen((const char *)got)"
        else:
            size = str(self._sizeof(item))
        if remembers(self.plans[fc.name]):
            lines.append(f"        remember_result(got, {size});")
        if lifetime.kind == "borrowed":
            until = self.until(lifetime)
            lines += [f"        static const int until[] = {{{', '.join(map(str, until)) or '0'}}};",
                      f"        borrow({index}, {self.lender(lifetime, at)}, until, {len(until)}, got, {size}, "
                      f"{int(item in CHAR_TYPES and not lifetime.length)});"]
        if lifetime.kind == "owned":
            free_type = self.contract.functions[lifetime.free].signature.params[0].ctype  # type: ignore[index]
            lines.append(f"        {self.pointer(lifetime.free)}(({free_type})got);")  # type: ignore[arg-type]
        lines.append("    } }")
        return lines

    def until(self, lifetime: Lifetime) -> list[int]:
        """The step indices of the calls that end a borrow (-1: any call)."""
        return [-1 if name == "*" else self.names.index(name) for name in lifetime.until
                if name == "*" or name in self.names]

    @staticmethod
    def lender(lifetime: Lifetime, at: dict[str, int]) -> str:
        """results.py's _lender: its `owner` argument's handle, else the call's first handle."""
        owner = at.get(lifetime.owner) if lifetime.owner else None
        return f"(c.serial[{owner}] ? c.serial[{owner}] : nh ? hs[0] : 0)" if owner is not None else "(nh ? hs[0] : 0)"

    def _sizeof(self, item: str) -> int:
        try:
            return int(self.ffi.sizeof(item))
        except (self.ffi.error, TypeError):
            return 0


def ffi_item(ffi: Any, ctype: str) -> str:
    """What a pointer type points to, as cffi names it ('const char *' -> 'char')."""
    return str(ffi.typeof(_unconst(ctype)).item.cname)
