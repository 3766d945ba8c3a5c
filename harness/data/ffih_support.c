/* ffih_support.c - native helpers of ffi-harness, loaded with ctypes.
 *
 * ffih_leak_check: LeakSanitizer's recoverable check, after scrubbing the stack below
 * the caller. LeakSanitizer scans stacks conservatively, so a stale copy of a leaked
 * pointer in a dead frame (left by the target call that leaked it) would hide the leak.
 */
#include <stddef.h>

int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

__attribute__((noinline)) static void scrub_stack(void) {
    volatile char pad[1 << 16];
    for (size_t i = 0; i < sizeof pad; i++) pad[i] = 0;
}

/* 1 when leaks were found, 0 when none, -1 without LeakSanitizer. */
__attribute__((noinline)) int ffih_leak_check(void) {
    if (!__lsan_do_recoverable_leak_check) return -1;
    scrub_stack();
    return __lsan_do_recoverable_leak_check();
}
