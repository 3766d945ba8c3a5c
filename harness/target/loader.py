"""Import a built target extension (and its Python binding) into this process."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.errors import BuildError
from harness.target.build import BuiltModule, build
from harness.target.spec import Target, resolve_target

_loaded: dict[str, Loaded] = {}


@dataclass(frozen=True)
class Loaded:
    """A target extension imported into this process: its ffi, lib and build facts."""

    built: BuiltModule
    module: ModuleType

    @property
    def ffi(self) -> Any:
        return self.module.ffi

    @property
    def lib(self) -> Any:
        return self.module.lib

    @property
    def target(self) -> Target:
        return self.built.target

    @property
    def variant(self) -> str:
        return self.built.variant

    def canaries(self) -> dict[str, tuple[int, int]]:
        """bug id -> (times reached, times triggered); empty for the clean variant."""
        if not self.built.canaries:
            return {}
        c_bugs = [bug for bug in self.target.bugs if not bug.in_binding]
        reached = self.ffi.new("uint64_t[]", len(c_bugs))
        triggered = self.ffi.new("uint64_t[]", len(c_bugs))
        getattr(self.lib, self.target.canary_function)(reached, triggered, len(c_bugs))
        return {bug.id: (reached[i], triggered[i]) for i, bug in enumerate(c_bugs)}


def import_extension(built: BuiltModule) -> ModuleType:
    """Import the built .so under its module name (once per process)."""
    if built.module_name in sys.modules:
        return sys.modules[built.module_name]
    spec = importlib.util.spec_from_file_location(built.module_name, built.path)
    if spec is None or spec.loader is None:
        raise BuildError(f"cannot import {built.path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError as exc:
        raise BuildError(
            f"cannot import {built.path}: {exc} (is the process running under the sanitizer "
            "runtime? see harness.runtime.ensure_runtime)"
        ) from exc
    sys.modules[built.module_name] = module
    return module


def load(target: Target | str | None = None, variant: str = "clean") -> Loaded:
    """Build if needed and import target+variant; one import per process and variant."""
    resolved = target if isinstance(target, Target) else resolve_target(target)
    built = build(resolved, variant)
    key = str(built.path)
    if key not in _loaded:
        _loaded[key] = Loaded(built, import_extension(built))
    return _loaded[key]


def load_binding(loaded: Loaded) -> ModuleType:
    """Import the target's Python binding file and bind it to the loaded extension.

    The binding module must define bind(ffi, lib, planted) where planted is the set of
    binding bug ids compiled into this variant.
    """
    path: Path | None = loaded.target.binding
    if path is None:
        raise BuildError(f"target {loaded.target.name!r} has no Python binding")
    name = f"_ffih_binding_{loaded.built.module_name}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise BuildError(f"cannot import binding {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    planted = frozenset(bug.id for bug in loaded.built.bugs if bug.in_binding)
    module.bind(loaded.ffi, loaded.lib, planted)
    return module
