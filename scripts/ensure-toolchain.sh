#!/bin/sh
# Make sure clang-19, its sanitizer runtimes and llvm-symbolizer are installed.
# As root on Debian/Ubuntu: installs them with apt. Otherwise: one line saying what to install.
set -eu
PACKAGES="clang-19 libclang-rt-19-dev llvm-19"
if command -v clang-19 >/dev/null 2>&1 && [ -x /usr/lib/llvm-19/bin/llvm-symbolizer ] \
   && ls /usr/lib/llvm-19/lib/clang/19/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ffi-harness needs clang-19: install it with: sudo apt-get install $PACKAGES" >&2
    exit 2
fi
echo "installing $PACKAGES with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends $PACKAGES >/dev/null 2>&1; then
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends $PACKAGES >/dev/null
fi
command -v clang-19 >/dev/null 2>&1 || { echo "clang-19 still missing after apt-get" >&2; exit 2; }
