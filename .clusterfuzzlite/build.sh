#!/bin/bash -eu
# ClusterFuzzLite / OSS-Fuzz build of ffi-harness's fuzzers. Runs in base-builder-python, which
# provides $SRC, $OUT, clang and compile_python_fuzzer (PyInstaller).
#   1. install ffi-harness (editable: the fuzzers and the target stay in this checkout);
#   2. bundle each fuzzer script: compile_python_fuzzer -> $OUT/fuzz_NAME.pkg;
#   3. export: the target's sanitized extension compiled once here (no compiler where the fuzzers
#      run), seed corpus zips, .options, .dict, and the wrappers $OUT/fuzz_NAME (replacing
#      compile_python_fuzzer's) that run each bundle with that module and the harness's options.
# FFI_HARNESS_TARGET: the target spec (default: the project's, from pyproject.toml); FFI_HARNESS_EXPORT_VARIANT: the
# build to fuzz (default clean).
cd "$SRC/ffi-harness"
pip3 install -e .
export FFI_HARNESS_CLANG="${FFI_HARNESS_CLANG:-clang}"
target="${FFI_HARNESS_TARGET:-}"
variant="${FFI_HARNESS_EXPORT_VARIANT:-clean}"
for script in $(ffi-harness export-ossfuzz ${target:+--target "$target"} --scripts); do
  # pkg_resources' runtime hook breaks on some setuptools; the fuzzers need neither it nor matplotlib
  compile_python_fuzzer "$script" --collect-submodules harness --hidden-import _cffi_backend \
    --exclude-module pkg_resources --exclude-module matplotlib
done
ffi-harness export-ossfuzz "$OUT" ${target:+--target "$target"} --variant "$variant"
