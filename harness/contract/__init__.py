"""The ownership and lifetime contract of a C API (the spec's [contract]) and `ffi-harness init`'s
starter spec."""
