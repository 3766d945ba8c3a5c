"""Target and build: the spec (target.toml / [tool.ffi-harness]), the planted-bug catalogue, the
header (cdef, signatures, dictionary), the toolchain, the sanitized build and loading it."""
