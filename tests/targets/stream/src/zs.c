/* zs.c - libzs. Planted bugs sit behind ZS_BUG_<ID> switches (see ../bugs.toml). */
#include "zs.h"

#include <stdlib.h>
#include <string.h>

struct zs_stream {
    int level;
    size_t window;
    const uint8_t *dict;  /* the caller's, not a copy */
    size_t dict_len;
    uint16_t *dict_index; /* first offset of each byte value in dict, 0xFFFF for none */
    uint64_t total_out;
};

static const int level_effort[ZS_MAX_LEVEL] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
static const size_t window_sizes[ZS_MAX_WINDOW - ZS_MIN_WINDOW + 1] = {
    1u << 4, 1u << 5, 1u << 6, 1u << 7, 1u << 8, 1u << 9, 1u << 10, 1u << 11, 1u << 12,
    1u << 13, 1u << 14, 1u << 15, 1u << 16, 1u << 17, 1u << 18, 1u << 19, 1u << 20};

zs_stream *zs_new(int level) {
    if (level < ZS_MIN_LEVEL || level > ZS_MAX_LEVEL) return NULL;
    zs_stream *stream = calloc(1, sizeof *stream);
    if (!stream) return NULL;
    stream->level = level;
    stream->window = window_sizes[16 - ZS_MIN_WINDOW];
    return stream;
}

void zs_free(zs_stream *stream) {
    if (!stream) return;
    free(stream->dict_index);
    free(stream);
}

int zs_set_dictionary(zs_stream *stream, const uint8_t *dict, size_t dict_len) {
    if (!stream) return -1;
#ifndef ZS_BUG_DICT_REPLACE_LEAK
    free(stream->dict_index);
#endif
    stream->dict_index = NULL;
    stream->dict = dict_len ? dict : NULL;
    stream->dict_len = dict ? dict_len : 0;
    if (!stream->dict) return 0;
    stream->dict_index = malloc(256 * sizeof *stream->dict_index);
    if (!stream->dict_index) return -1;
    memset(stream->dict_index, 0xFF, 256 * sizeof *stream->dict_index);
    for (size_t i = stream->dict_len; i-- > 0;)
        if (i < 0xFFFF) stream->dict_index[dict[i]] = (uint16_t)i;
    return 0;
}

int zs_set_window(zs_stream *stream, int window_log) {
    if (!stream) return -1;
    stream->window = window_sizes[window_log - ZS_MIN_WINDOW];  /* in range: the header says so */
    return 0;
}

/* Append a token of `need` bytes at *pos if it fits in cap. */
static int fits(size_t pos, size_t need, size_t cap) {
#ifdef ZS_BUG_COMPRESS_EXACT_FIT
    return pos + need <= cap + 1;
#else
    return pos + need <= cap;
#endif
}

/* The longest dictionary match of src[i..] (at most 255 bytes): its length, offset in *off. */
static size_t dict_match(const zs_stream *stream, const uint8_t *src, size_t i, size_t src_len, size_t *off) {
    if (!stream->dict_index || stream->dict_index[src[i]] == 0xFFFF) return 0;
    size_t best = 0;
    int tries = level_effort[stream->level - 1];
    for (size_t start = stream->dict_index[src[i]]; start < stream->dict_len && start < 256 && tries-- > 0; start++) {
        size_t n = 0;
        while (n < 255 && i + n < src_len && start + n < stream->dict_len && stream->dict[start + n] == src[i + n]) n++;
        if (n > best) best = n, *off = start;
    }
    return best;
}

int zs_compress(zs_stream *stream, const uint8_t *src, size_t src_len, uint8_t *dst, size_t *dst_len) {
    if (!stream || !dst_len || (!src && src_len) || (!dst && *dst_len)) return -1;
    size_t cap = *dst_len, pos = 0, i = 0;
    while (i < src_len) {
        size_t off = 0, match = dict_match(stream, src, i, src_len, &off);
        size_t run = 1;
        while (run < 255 && i + run < src_len && src[i + run] == src[i]) run++;
        if (match >= 4 && match >= run) {
            if (!fits(pos, 3, cap)) break;
            dst[pos] = 2, dst[pos + 1] = (uint8_t)match, dst[pos + 2] = (uint8_t)off;
            pos += 3, i += match;
        } else if (run >= 3) {
            if (!fits(pos, 3, cap)) break;
            dst[pos] = 1, dst[pos + 1] = (uint8_t)run, dst[pos + 2] = src[i];
            pos += 3, i += run;
        } else {
            size_t n = 1;
            while (n < 255 && i + n < src_len && !(i + n + 2 < src_len && src[i + n] == src[i + n + 1]
                                                     && src[i + n] == src[i + n + 2])) n++;
            if (!fits(pos, 2 + n, cap)) break;
            dst[pos] = 0, dst[pos + 1] = (uint8_t)n;
            memcpy(dst + pos + 2, src + i, n);
            pos += 2 + n, i += n;
        }
    }
    *dst_len = pos;
    stream->total_out += pos;
    return i < src_len ? 1 : 0;
}

int zs_decompress(zs_stream *stream, const uint8_t *src, size_t src_len, uint8_t *dst, size_t *dst_len) {
    if (!stream || !dst_len || (!src && src_len) || (!dst && *dst_len)) return -1;
    size_t cap = *dst_len, pos = 0, i = 0;
    int status = 0;
    while (i < src_len) {
        if (i + 1 >= src_len) { status = 2; break; }
        uint8_t type = src[i], n = src[i + 1];
        if (n == 0 || type > 2) { status = 2; break; }
        if (type == 0) {
            if (i + 2 + n > src_len) { status = 2; break; }
            if (pos + n > cap) { status = 1; break; }
            memcpy(dst + pos, src + i + 2, n);
            i += 2 + (size_t)n;
        } else if (type == 1) {
            if (i + 2 >= src_len) { status = 2; break; }
#ifndef ZS_BUG_RUN_UNCHECKED
            if (pos + n > cap) { status = 1; break; }
#endif
            memset(dst + pos, src[i + 2], n);
            i += 3;
        } else {
            if (i + 2 >= src_len) { status = 2; break; }
            size_t off = src[i + 2];
#ifdef ZS_BUG_DICT_OFFSET
            if (off >= stream->dict_len) { status = 2; break; }
#else
            if (off + n > stream->dict_len) { status = 2; break; }
#endif
            if (pos + n > cap) { status = 1; break; }
            memcpy(dst + pos, stream->dict + off, n);
            i += 3;
        }
        pos += n;
    }
    *dst_len = pos;
    stream->total_out += pos;
    return status;
}

uint64_t zs_total_out(const zs_stream *stream) { return stream ? stream->total_out : 0; }
