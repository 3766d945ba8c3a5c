"""The sanitizer runtime: ASan/UBSan/LSan options and LD_PRELOAD, target-only leak checks, the
native support library."""
