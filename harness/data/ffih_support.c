/* ffih_support.c - native helpers of ffi-harness, loaded with ctypes.
 *
 * ffih_leak_check: LeakSanitizer's recoverable check, after scrubbing the stack below
 * the caller. LeakSanitizer scans stacks conservatively, so a stale copy of a leaked
 * pointer in a dead frame (left by the target call that leaked it) would hide the leak.
 *
 * ffih_track_*: which blocks allocated since ffih_track_begin are still allocated, and
 * whether any of them was allocated from target code. A leak scan walks the whole heap
 * (50-500 ms in a Python process); a new leak needs a surviving block, so when no block
 * allocated since the mark survives with a target frame on its allocation stack, a scan
 * cannot find a new target leak and is skipped. Blocks are followed with ASan's malloc and
 * free hooks in an open-addressing set; the allocation stack is ASan's own (the one a leak
 * report shows).
 */
#define _GNU_SOURCE
#include <link.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

int __lsan_do_recoverable_leak_check(void) __attribute__((weak));
int __sanitizer_install_malloc_and_free_hooks(
    void (*malloc_hook)(const volatile void *, size_t),
    void (*free_hook)(const volatile void *)) __attribute__((weak));
size_t __asan_get_alloc_stack(void *addr, void **trace, size_t size, int *thread_id) __attribute__((weak));

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

#define SLOTS (1u << 18)          /* 2 MiB of slots */
#define MAX_LIVE (SLOTS / 2)      /* past this the set gives up: overflowed */
#define STACK_FRAMES 64

static uintptr_t *slots;
static size_t live;
static int tracking, overflowed, hooked;
static volatile int lock;

static void acquire(void) { while (__atomic_test_and_set(&lock, __ATOMIC_ACQUIRE)) {} }
static void release(void) { __atomic_clear(&lock, __ATOMIC_RELEASE); }

static size_t home(uintptr_t key) { return (size_t)((key >> 4) * 0x9E3779B97F4A7C15ull >> 40) & (SLOTS - 1); }

static void on_malloc(const volatile void *ptr, size_t size) {
    (void)size;
    uintptr_t key = (uintptr_t)ptr;
    if (!tracking || !key) return;
    acquire();
    if (live >= MAX_LIVE) {
        overflowed = 1;
    } else {
        size_t i = home(key);
        while (slots[i] && slots[i] != key) i = (i + 1) & (SLOTS - 1);
        if (!slots[i]) { slots[i] = key; live++; }
    }
    release();
}

static void on_free(const volatile void *ptr) {
    uintptr_t key = (uintptr_t)ptr;
    if (!tracking || !key) return;
    acquire();
    size_t i = home(key);
    while (slots[i] && slots[i] != key) i = (i + 1) & (SLOTS - 1);
    if (slots[i]) { /* delete by shifting later members of the probe run back */
        size_t hole = i;
        for (size_t j = (i + 1) & (SLOTS - 1); slots[j]; j = (j + 1) & (SLOTS - 1)) {
            size_t want = home(slots[j]);
            if (((j - want) & (SLOTS - 1)) >= ((j - hole) & (SLOTS - 1))) { slots[hole] = slots[j]; hole = j; }
        }
        slots[hole] = 0;
        live--;
    }
    release();
}

/* Install the hooks (idle until ffih_track_begin) and the set, and touch its pages, so a
 * process that forks children to track in pays for this once. 0, or -1 when this runtime
 * has no malloc hooks or allocation stacks. */
int ffih_track_prepare(void) {
    if (!__sanitizer_install_malloc_and_free_hooks || !__asan_get_alloc_stack) return -1;
    if (!slots) {
        void *memory = mmap(NULL, SLOTS * sizeof *slots, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (memory == MAP_FAILED) return -1;
        slots = memory;
    }
    if (!hooked) {
        if (!__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free)) return -1;
        hooked = 1;
    }
    return 0;
}

/* Start following allocations from now on (forgetting earlier ones); 0, or -1 as above. */
int ffih_track_begin(void) {
    if (ffih_track_prepare() != 0) return -1;
    acquire();
    tracking = 0;
    if (live) for (size_t i = 0; i < SLOTS; i++) slots[i] = 0;
    live = 0;
    overflowed = 0;
    tracking = 1;
    release();
    return 0;
}

/* Stop following allocations (the hooks stay, idle). */
void ffih_track_end(void) {
    acquire();
    tracking = 0;
    release();
}

/* How many blocks allocated since ffih_track_begin are still allocated and have a frame
 * in one of the n code ranges [starts[k], ends[k]) on their allocation stack; -1 when the
 * set overflowed or tracking never began (the caller must assume there may be some). */
long ffih_track_survivors(const uintptr_t *starts, const uintptr_t *ends, size_t n) {
    if (!tracking) return -1;
    acquire();
    tracking = 0;  /* nothing below allocates, but stop the hooks from waiting on the lock */
    release();
    long found = overflowed ? -1 : 0;
    void *trace[STACK_FRAMES];
    int thread;
    for (size_t i = 0; found >= 0 && i < SLOTS; i++) {
        if (!slots[i]) continue;
        size_t depth = __asan_get_alloc_stack((void *)slots[i], trace, STACK_FRAMES, &thread);
        for (size_t f = 0; f < depth; f++) {
            uintptr_t pc = (uintptr_t)trace[f];
            size_t k = 0;
            while (k < n && !(starts[k] <= pc && pc < ends[k])) k++;
            if (k < n) { found++; break; }
        }
    }
    acquire();
    tracking = 1;
    release();
    return found;
}

static int count_adds(struct dl_phdr_info *info, size_t size, void *out) {
    (void)size;
    *(unsigned long long *)out = info->dlpi_adds;
    return 1;
}

/* How many shared objects were ever loaded: a new value means new code may be mapped. */
unsigned long long ffih_objects_added(void) {
    unsigned long long adds = 0;
    dl_iterate_phdr(count_adds, &adds);
    return adds;
}

/* Blocks followed right now (still allocated since ffih_track_begin); -1 after overflow. */
long ffih_track_live(void) { return overflowed ? -1 : (long)live; }
