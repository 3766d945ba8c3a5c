/* Native libFuzzer sequence driver for tests/targets/stream (libzs): the calls the generic
 * `sequence` fuzzer makes from zs.toml, the contract kept by hand - the dictionary kept alive
 * until its stream is freed, the window kept in 4..20, *dst_len holding dst's exact capacity
 * on the way in. Anchor of bench/overhead.py --configs sequence. */
#include "sequence_input.h"
#include "zs.h"

#define MAX_STREAMS 8

static struct { zs_stream *stream; uint8_t *dicts[MAX_STEPS]; unsigned ndicts; } streams[MAX_STREAMS];
static unsigned nstreams;
static volatile size_t sink;

static unsigned new_stream(Input *in) {
    if (nstreams == MAX_STREAMS) return pick(in, nstreams);
    zs_stream *stream = zs_new((int)edge_int(in, INT32_MIN, INT32_MAX));
    if (!stream) return MAX_STREAMS;
    streams[nstreams].stream = stream, streams[nstreams].ndicts = 0;
    return nstreams++;
}

static unsigned some_stream(Input *in) { return nstreams ? pick(in, nstreams) : new_stream(in); }

static void free_stream(unsigned i) {
    zs_free(streams[i].stream);
    for (unsigned d = 0; d < streams[i].ndicts; d++) free(streams[i].dicts[d]);
    streams[i] = streams[--nstreams];
}

static void code(Input *in, unsigned i, int compress) {
    size_t len, cap = pick(in, 2) ? (size_t[]){0, 1, 2, 8}[pick(in, 4)] : pick(in, 257), dst_len = cap;
    uint8_t *src = bytes(in, &len, 0), *dst = malloc(cap ? cap : 1);
    if (compress) sink += (size_t)zs_compress(streams[i].stream, src, len, dst, &dst_len);
    else sink += (size_t)zs_decompress(streams[i].stream, src, len, dst, &dst_len);
    free(dst), free(src);
}

static void step(Input *in) {
    unsigned i;
    switch (pick(in, 7)) {
    case 0: new_stream(in); break;
    case 1: if (nstreams) free_stream(pick(in, nstreams)); break;
    case 2: {  /* the dictionary lives until its stream is freed */
        if ((i = some_stream(in)) == MAX_STREAMS) break;
        size_t len;
        uint8_t *dict = bytes(in, &len, 0);
        zs_set_dictionary(streams[i].stream, pick(in, 16) ? dict : NULL, len);
        streams[i].dicts[streams[i].ndicts++ % MAX_STEPS] = dict;
        break;
    }
    case 3: if ((i = some_stream(in)) < MAX_STREAMS) zs_set_window(streams[i].stream, 4 + (int)pick(in, 17)); break;
    case 4: if ((i = some_stream(in)) < MAX_STREAMS) code(in, i, 1); break;
    case 5: if ((i = some_stream(in)) < MAX_STREAMS) code(in, i, 0); break;
    case 6: if ((i = some_stream(in)) < MAX_STREAMS) sink += zs_total_out(streams[i].stream); break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Input in = {data, size};
    sequence_begin();
    for (unsigned i = 0; i < MAX_STEPS && in.size; i++) step(&in);
    while (nstreams) free_stream(nstreams - 1);
    return 0;
}
