/* sequence_input.h - decoding a libFuzzer input into a call sequence's choices, shared by the
 * native sequence drivers of bench/native (the anchors of bench/overhead.py --configs sequence):
 * choices from the input's end, strings and buffers from its front, in exact-size heap blocks,
 * and (often) bytes given or read before, as the generic driver reuses them. */
#ifndef SEQUENCE_INPUT_H
#define SEQUENCE_INPUT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STEPS 48
#define POOL 16
#define MAX_BYTES 96

typedef struct { const uint8_t *data; size_t size; } Input;

static unsigned pick(Input *in, unsigned n) {  /* a choice in [0, n) from one or two bytes */
    if (n <= 1 || !in->size) return 0;
    unsigned v = in->data[--in->size];
    if (n > 256 && in->size) v = v << 8 | in->data[--in->size];
    return v % n;
}

static int64_t edge_int(Input *in, int64_t low, int64_t high) {  /* near the edges, or small */
    int64_t values[] = {0, 1, -1, high, low, (int64_t)pick(in, 17)};
    int64_t v = values[pick(in, 6)];
    return v < low ? low : v > high ? high : v;
}

static struct { uint8_t bytes[MAX_BYTES]; size_t len; } pool[POOL];
static unsigned pooled, pool_next;

static void remember(const void *bytes, size_t len) {
    if (len > MAX_BYTES) return;
    memcpy(pool[pool_next].bytes, bytes, len);
    pool[pool_next].len = len;
    pool_next = (pool_next + 1) % POOL;
    if (pooled < POOL) pooled++;
}

/* Bytes in a heap block of exactly their length (plus a NUL when cstring): fresh from the input
 * or one used before. *len gets the length without the NUL. */
static uint8_t *bytes(Input *in, size_t *len, int cstring) {
    uint8_t buf[MAX_BYTES];
    size_t n = 0;
    if (pooled && pick(in, 3) == 0) {
        unsigned i = pick(in, pooled);
        for (size_t k = 0; k < pool[i].len; k++)
            if (!cstring || pool[i].bytes[k]) buf[n++] = pool[i].bytes[k];
    } else {
        size_t want = pick(in, MAX_BYTES + 1);
        while (n < want && in->size) {
            uint8_t c = *in->data++;
            in->size--;
            if (c || !cstring) buf[n++] = c;
        }
        remember(buf, n);
    }
    uint8_t *block = malloc(n + (cstring != 0) + (n == 0 && !cstring));
    memcpy(block, buf, n);
    if (cstring) block[n] = 0;
    if (len) *len = n;
    return block;
}

static char *text(Input *in, size_t *len) { return (char *)bytes(in, len, 1); }

static void sequence_begin(void) { pooled = pool_next = 0; }

#endif
