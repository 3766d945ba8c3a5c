/* kv_canary.c - counters behind KV_REACHED / KV_TRIGGERED (planted variants only). */
#include "kv_canary.h"

#ifdef KV_CANARIES
static uint64_t reached_counts[KV_CANARY_SLOTS];
static uint64_t triggered_counts[KV_CANARY_SLOTS];

void kv__canary_hit(int slot, int triggered) {
    if (slot < 0 || slot >= KV_CANARY_SLOTS) return;
    __atomic_fetch_add(triggered ? &triggered_counts[slot] : &reached_counts[slot], 1,
                       __ATOMIC_RELAXED);
}

void kv__canaries(uint64_t *reached, uint64_t *triggered, size_t n) {
    if (n > KV_CANARY_SLOTS) n = KV_CANARY_SLOTS;
    for (size_t i = 0; i < n; i++) {
        if (reached) reached[i] = __atomic_load_n(&reached_counts[i], __ATOMIC_RELAXED);
        if (triggered) triggered[i] = __atomic_load_n(&triggered_counts[i], __ATOMIC_RELAXED);
    }
}
#else
typedef int kv_canary_unused; /* ISO C forbids an empty translation unit */
#endif
