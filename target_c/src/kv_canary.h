/* kv_canary.h - Magma-style canaries for the planted bugs.
 *
 * Built only into planted variants (KV_CANARIES defined). The build defines, for every
 * bug of target_c/bugs.toml, KV_CANARY_<ID> = its slot (ID upper-cased, '-' -> '_'),
 * and KV_BUG_<ID> = 1 for the bugs compiled in. A canary counts how often the bug's
 * code path was reached and how often its bug condition held (triggered), whether or
 * not the bug itself is compiled in, so a benchmark can tell "never reached" from
 * "triggered but not detected".
 */
#ifndef KV_CANARY_H
#define KV_CANARY_H

#include <stddef.h>
#include <stdint.h>

#ifdef KV_CANARIES
enum { KV_CANARY_SLOTS = 64 };
void kv__canary_hit(int slot, int triggered);
/* Copies the counters of slots 0..n-1 (n <= KV_CANARY_SLOTS). Planted variants only. */
void kv__canaries(uint64_t *reached, uint64_t *triggered, size_t n);
#define KV_REACHED(bug) kv__canary_hit(KV_CANARY_##bug, 0)
#define KV_TRIGGERED(bug) kv__canary_hit(KV_CANARY_##bug, 1)
#else
#define KV_REACHED(bug) ((void)0)
#define KV_TRIGGERED(bug) ((void)0)
#endif

#endif /* KV_CANARY_H */
