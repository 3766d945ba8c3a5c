"""One property, two runners: hypothesis under pytest (clean build, full budget) and
atheris driving the same @given function through fuzz_one_input (planted build)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.campaign.registry import GENERIC_DIR
from harness.runtime.sanitizers import child_environment

import properties

pytestmark = pytest.mark.usefixtures("no_target_leaks")


@pytest.mark.parametrize("name", ["lossy_utf8_matches_python", "copy_value_respects_capacity",
                                  "keys_with_nul_are_refused"])
def test_property_holds_on_the_clean_build(name):
    getattr(properties, name)()


def test_atheris_drives_the_same_property_to_the_planted_bug(tmp_path):
    env = child_environment()
    env["FFI_HARNESS_VARIANT"] = "utf8-lossy-tail"
    script = GENERIC_DIR / "fuzz_property.py"
    prop = f"{Path(properties.__file__)}:lossy_utf8_matches_python"
    out = subprocess.run([sys.executable, str(script), prop, "-runs=200000", "-seed=5",
                          f"-artifact_prefix={tmp_path}/"], capture_output=True, text=True, env=env,
                         timeout=600)
    assert "heap-buffer-overflow" in out.stderr and "kv_get_utf8_lossy" in out.stderr, out.stderr[-2000:]
    assert list(tmp_path.glob("crash-*"))
