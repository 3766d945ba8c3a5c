"""Planning: how the sequence driver fills each parameter of each function (an Arg's role),
decided once per contract from its entries and the header's types."""

from __future__ import annotations

from dataclasses import dataclass

from harness.contract.model import CHAR_TYPES, Contract, FunctionContract, Lifetime, pointee
from harness.sequence.state import Arg
from harness.target.header import is_integer

# filled after what they follow
SECOND_PASS = ("length_of", "length_cell_of", "capacity_of", "capacity_cell_of", "registration_id", "parent_of")


class Unsupported(Exception):
    """A function the driver cannot call from its contract (the message says which parameter)."""


@dataclass(frozen=True)
class PlanShape:
    """What each call of a planned function needs to know about its plan, worked out once."""

    handles: tuple[str | None, ...]  # handle type of each handle parameter, in order
    taken: tuple[tuple[str | None, int], ...]  # handed-over handles: (type, live ones the call needs)
    first: tuple[Arg, ...]  # parameters filled first, in order
    second: tuple[Arg, ...]  # then these (lengths, capacities, ids of registrations)
    registration_ids: tuple[str, ...]
    taken_names: tuple[str, ...]
    children: tuple[Arg, ...] = ()  # `child_of` handles: the call needs a borrowed one of each

    @classmethod
    def of(cls, plan: list[Arg]) -> PlanShape:
        needed = {a.other: sum(1 for b in plan if b.role == "handle" and b.other == a.other) for a in plan}
        return cls(tuple(a.other for a in plan if a.role == "handle"),
                   tuple((a.other, needed[a.other]) for a in plan if a.taken),
                   tuple(a for a in plan if a.role not in SECOND_PASS),
                   tuple(a for a in plan if a.role in SECOND_PASS),
                   tuple(a.name for a in plan if a.role == "registration_id"),
                   tuple(a.name for a in plan if a.taken),
                   tuple(a for a in plan if a.role == "child"))


def plan_all(contract: Contract) -> tuple[dict[str, list[Arg]], dict[str, str]]:
    """(function -> its plan, for every function the driver calls; function -> why it is skipped).
    Release functions of owned results are never called on their own (nor the spec's default
    one, nor one named by a skipped function, even when every function whose results it frees
    is skipped)."""
    releasers = {f.returns.free for f in contract.functions.values()} | {contract.free} | contract.releasers
    releasers |= {lt.free for f in contract.functions.values() for _, lt in f.outputs}
    releasers -= {h.free for h in contract.handles.values()}
    plans: dict[str, list[Arg]] = {}
    skipped: dict[str, str] = {}
    for fc in contract.functions.values():
        if fc.name in releasers:
            continue
        try:
            plans[fc.name] = plan_function(contract, fc)
        except Unsupported as why:
            skipped[fc.name] = str(why)
    return plans, skipped


def plan_function(contract: Contract, fc: FunctionContract) -> list[Arg]:
    """How each parameter of fc is filled, from its contract entry and the header's types."""
    roles: dict[str, Arg] = {}
    sig = fc.signature
    for ptr, length in fc.buffers:
        roles[ptr] = Arg(ptr, sig.param(ptr).ctype, "buffer", length)
        length_type = sig.param(length).ctype
        roles[length] = Arg(length, length_type, "length_cell_of" if "*" in length_type else "length_of", ptr)
    for ptr, cap in fc.out_buffers:
        roles[ptr] = Arg(ptr, sig.param(ptr).ctype, "out_buffer", cap)
        cap_type = sig.param(cap).ctype
        roles[cap] = Arg(cap, cap_type, "capacity_cell_of" if "*" in cap_type else "capacity_of", ptr)
    for child, parent in fc.child_of:  # the child first, then its owner as the parent
        child_type, parent_type = (contract.handle_of(sig.param(p).ctype) for p in (child, parent))
        roles[child] = Arg(child, sig.param(child).ctype, "child", child_type.name if child_type else None,
                           owner_type=parent_type.name if parent_type else None)
        roles[parent] = Arg(parent, sig.param(parent).ctype, "parent_of", child)
    reg = fc.registration
    if reg is not None:
        roles[reg.callback] = Arg(reg.callback, sig.param(reg.callback).ctype, "callback")
        if reg.user_data:
            roles[reg.user_data] = Arg(reg.user_data, "void *", "user_data")
        if reg.release:
            roles[reg.release] = Arg(reg.release, sig.param(reg.release).ctype, "release")
    for other in contract.functions.values():
        if other.registration is None:
            continue
        for function, param in other.registration.ends:
            if function == fc.name:
                roles[param] = Arg(param, sig.param(param).ctype, "registration_id", other.name)
    outputs = dict(fc.outputs)
    if fc.returns.length:
        roles.setdefault(fc.returns.length, Arg(fc.returns.length, sig.param(fc.returns.length).ctype, "cell"))
    plan = []
    for param in sig.params:
        if param.name in roles:
            plan.append(roles[param.name])
            continue
        plan.append(_default_arg(contract, fc, param.name, param.ctype, outputs.get(param.name)))
    return plan

def _default_arg(contract: Contract, fc: FunctionContract, name: str, ctype: str, output: Lifetime | None) -> Arg:
    """A parameter the contract says nothing about: what its header type allows."""
    base = pointee(ctype)
    if ctype in contract.function_pointers:
        return Arg(name, ctype, "callback_sync")
    if (handle := contract.handle_of(ctype)) is not None:
        return Arg(name, ctype, "handle", handle.name, taken=name in fc.takes)
    if name in fc.takes:
        return Arg(name, ctype, "takes")
    if ctype.count("*") >= 2:
        return Arg(name, ctype, "out_pointer", lifetime=output)
    if base is not None and ctype.count("*") == 1:
        if base in CHAR_TYPES:
            return Arg(name, ctype, "cstring")
        if is_integer(base, contract.integer_types) and not ctype.startswith("const"):
            return Arg(name, ctype, "cell")
        if name in fc.nullable:  # what the driver cannot fill (a struct of options): NULL, as allowed
            return Arg(name, ctype, "null")
        raise Unsupported(f"parameter {name} ({ctype}) needs a contract entry (buffers, out_buffers, "
                           "user_data, outputs)")
    if is_integer(ctype, contract.integer_types):
        bounds = next(((low, high) for param, low, high in fc.ranges if param == name), None)
        plain_char = ctype.replace("const", "").strip() == "char"
        return Arg(name, ctype, "char" if plain_char else "int", bounds=bounds)
    if ctype in ("float", "double"):
        return Arg(name, ctype, "float")
    raise Unsupported(f"parameter {name} ({ctype}) has no generator")
