/* Native libFuzzer sequence driver for tests/targets/wild: the calls the generic `sequence`
 * fuzzer makes from wild.toml (a stream handle, packing exact-size buffers into an out buffer
 * of a chosen capacity, options by value, checksums), the contract kept by hand. Anchor of
 * bench/overhead.py --configs sequence. */
#include "sequence_input.h"
#include "wild.h"

#define MAX_STREAMS 8

static wild_stream *streams[MAX_STREAMS];
static unsigned nstreams;
static volatile size_t sink;

static wild_stream *new_stream(Input *in) {
    if (nstreams == MAX_STREAMS) return streams[pick(in, nstreams)];
    wild_stream *stream = wild_new((int)edge_int(in, INT32_MIN, INT32_MAX));
    if (stream) streams[nstreams++] = stream;
    return stream;
}

static wild_stream *some_stream(Input *in) { return nstreams ? streams[pick(in, nstreams)] : new_stream(in); }

static void step(Input *in) {
    wild_stream *stream;
    switch (pick(in, 9)) {
    case 0: sink += wild_version(); break;
    case 1: sink += wild_bound((size_t)edge_int(in, 0, INT64_MAX)); break;
    case 2: new_stream(in); break;
    case 3:
        if (nstreams) {
            unsigned i = pick(in, nstreams);
            wild_free(streams[i]);
            streams[i] = streams[--nstreams];
        }
        break;
    case 4: {
        if (!(stream = some_stream(in))) break;
        size_t len, written = 0;
        uint8_t *src = bytes(in, &len, 0);
        static const size_t caps[] = {0, 1, 2, 8};
        size_t cap = pick(in, 2) ? caps[pick(in, 4)] : pick(in, 257);
        uint8_t *dst = malloc(cap ? cap : 1);
        sink += (size_t)wild_pack(stream, src, len, dst, cap, &written) + written;
        free(dst), free(src);
        break;
    }
    case 5: if ((stream = some_stream(in))) sink += (size_t)wild_offset(stream); break;
    case 6: {
        wild_options options = {(int)edge_int(in, INT32_MIN, INT32_MAX), {0}};
        stream = pick(in, 16) ? some_stream(in) : NULL;
        sink += (size_t)wild_level(stream, pick(in, 16) ? &options : NULL);
        break;
    }
    case 7: sink += wild_old_bound((size_t)edge_int(in, 0, INT64_MAX)); break;
    case 8: {
        size_t len;
        uint8_t *data = bytes(in, &len, 0);
        sink += (size_t)wild_checksum(data, len);
        free(data);
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Input in = {data, size};
    sequence_begin();
    for (unsigned i = 0; i < MAX_STEPS && in.size; i++) step(&in);
    while (nstreams) wild_free(streams[--nstreams]);
    return 0;
}
