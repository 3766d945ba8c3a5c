/* wild.c - the implementation of wild.h; correct, so a finding on it is the harness's fault. */
#include "wild.h"

#include <stdlib.h>

struct wild_stream {
    int level;
    off_t offset;
    wild_state state;
};

unsigned wild_version(void) { return WILD_VERSION; }

size_t wild_bound(size_t n) { return WILD_BOUND(n); }

size_t wild_old_bound(size_t n) { return wild_bound(n); }

wild_stream *wild_new(int level) {
    if (level < 0 || level > WILD_MAX_LEVEL) return NULL;
    wild_stream *stream = calloc(1, sizeof *stream);
    if (stream) stream->level = level;
    return stream;
}

void wild_free(wild_stream *stream) { free(stream); }

int wild_pack(wild_stream *stream, const unsigned char *src, size_t src_size,
              unsigned char *dst, size_t dst_capacity, size_t *written) {
    if (!stream || (!src && src_size) || (!dst && dst_capacity) || !written) return WILD_ERR_ARG;
    size_t out = 0;
    for (size_t i = 0; i < src_size;) {
        size_t run = 1;
        while (i + run < src_size && run < 255 && src[i + run] == src[i]) run++;
        if (dst_capacity - out < 2) return WILD_ERR_SPACE;
        dst[out++] = (unsigned char)run;
        dst[out++] = src[i];
        stream->state.bytes[src[i] % sizeof stream->state.bytes] ^= (unsigned char)run;
        i += run;
    }
    stream->offset += (off_t)src_size;
    *written = out;
    return WILD_OK;
}

off_t wild_offset(const wild_stream *stream) { return stream ? stream->offset : -1; }

int wild_level(const wild_stream *stream, const wild_options *options) {
    if (stream) return stream->level;
    return options ? options->level : WILD_ERR_ARG;
}

int wild_checksum(const unsigned char *data, size_t size) {
    unsigned sum = 0;
    for (size_t i = 0; i < size; i++) sum = sum * 31u + data[i];
    return (int)(sum & 0x7fffffff);
}
