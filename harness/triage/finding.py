"""Finding: one parsed sanitizer, libFuzzer or Python report, with a portable stack hash."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

from harness.triage.frames import Frame

CRASH_STATE_FRAMES = 3  # ClusterFuzz: crash identity = type + top 3 non-ignored frames
# the frame that calls library function NAME: cffi's API-mode wrapper, or the sequence driver's
# native loop (harness.sequence.native)
CALL_WRAPPERS = ("_cffi_f_", "ffih_call_")


def _called_through_cffi(frames: tuple[Frame, ...]) -> list[Frame]:
    """The library function a wrapper frame called, when the stack has no frame of the
    library itself: its own frame is gone when it ended in a tail call (`return strlen(p);`
    jumps to the interceptor), but the wrapper names it. Not target code for leak filtering:
    the harness's own lib.malloc goes through a wrapper too."""
    for frame in frames:
        prefix = next((p for p in CALL_WRAPPERS if frame.function.startswith(p)), None)
        if prefix is not None:
            return [Frame(frame.index, frame.function[len(prefix):], "", 0, frame.module, False)]
    return []


@dataclass(frozen=True)
class Finding:
    """A bug report reduced to what identifies it.

    kind: sanitizer vocabulary (heap-use-after-free, leak, signed-integer-overflow, timeout,
        python-exception, unparsed, ...). function/file/line: the innermost frame in target
        code (else the library function a cffi wrapper called, else the innermost frame that is
        not runtime, libc or interpreter).
    stack_hash: hash of kind + crash state (function names only: no addresses, no paths),
        equal for the same bug across builds and machines.
    """

    kind: str
    sanitizer: str
    frames: tuple[Frame, ...] = ()
    access: str | None = None
    size: int | None = None
    summary: str = ""
    signature: str = ""  # extra identity beyond the frames, e.g. a Python exception type
    function: str = field(default="", init=False)
    file: str = field(default="", init=False)
    line: int = field(default=0, init=False)
    in_target: bool = field(default=False, init=False)
    crash_state: tuple[str, ...] = field(default=(), init=False)
    stack_hash: str = field(default="", init=False)

    def __post_init__(self) -> None:
        target = [f for f in self.frames if f.in_target]
        relevant = target or _called_through_cffi(self.frames) or [f for f in self.frames if not f.ignored]
        top = relevant[0] if relevant else None
        state = tuple(f.function for f in relevant[:CRASH_STATE_FRAMES])
        identity = "\n".join((self.kind, self.signature, *state))
        digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
        object.__setattr__(self, "function", top.function if top else "")
        object.__setattr__(self, "file", top.file if top else "")
        object.__setattr__(self, "line", top.line if top else 0)
        object.__setattr__(self, "in_target", bool(target))
        object.__setattr__(self, "crash_state", state)
        object.__setattr__(self, "stack_hash", digest)

    @property
    def title(self) -> str:
        """A one-line name in ClusterFuzz style: 'heap-use-after-free READ 8 in mylib_find'."""
        parts = [self.kind]
        if self.access:
            parts.append(self.access)
        if self.size is not None and self.kind not in ("leak", "indirect-leak"):
            parts.append(str(self.size))
        if self.function:
            parts.append(f"in {self.function}")
        return " ".join(parts)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict (the fields `fuzz --json` promises, plus frames and crash state)."""
        data = asdict(self)
        data["frames"] = [asdict(f) for f in self.frames]
        data["crash_state"] = list(self.crash_state)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Finding:
        """Rebuild a Finding saved with to_dict()."""
        frames = tuple(Frame(**f) for f in data.get("frames", []))
        return cls(data["kind"], data["sanitizer"], frames, data.get("access"), data.get("size"),
                   data.get("summary", ""), data.get("signature", ""))
