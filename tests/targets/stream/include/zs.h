/* zs.h - libzs: a streaming run-length codec with a dictionary (a test library of ffi-harness).
 *
 * Shapes modelled on zlib and zstd streaming APIs: a state handle made at a level, a dictionary
 * the stream keeps using instead of copying, a setting that indexes a table and so must stay
 * in its range, and output sizes passed in and out through one pointer. Planted bugs sit behind
 * ZS_BUG_<ID> switches (../bugs.toml); the clean build is correct.
 *
 * Format: a sequence of tokens - 0x00 n b[n] (n literal bytes), 0x01 n b (byte b n times),
 * 0x02 n off (n bytes of the dictionary from offset off); n is 1..255.
 */
#ifndef ZS_H
#define ZS_H

#include <stddef.h>
#include <stdint.h>

#define ZS_MIN_LEVEL 1
#define ZS_MAX_LEVEL 9
#define ZS_MIN_WINDOW 4
#define ZS_MAX_WINDOW 20

typedef struct zs_stream zs_stream;

/* A stream compressing at level ZS_MIN_LEVEL..ZS_MAX_LEVEL (NULL for any other level).
 * Free it with zs_free. */
zs_stream *zs_new(int level);
void zs_free(zs_stream *stream);

/* Prime the stream with dict, which is NOT copied: it must stay valid and unchanged until the
 * stream is freed or given another dictionary. dict_len 0 (or dict NULL) removes it. 0 on success. */
int zs_set_dictionary(zs_stream *stream, const uint8_t *dict, size_t dict_len);

/* The match window, 1 << window_log bytes. window_log must be ZS_MIN_WINDOW..ZS_MAX_WINDOW: it
 * selects a row of a table and is not checked. 0 on success. */
int zs_set_window(zs_stream *stream, int window_log);

/* Compress src into dst. *dst_len is dst's capacity in bytes on the way in and the bytes
 * written on the way out. 0 on success, 1 when dst is too small (*dst_len then says how much
 * was written), -1 on bad arguments. */
int zs_compress(zs_stream *stream, const uint8_t *src, size_t src_len, uint8_t *dst, size_t *dst_len);

/* Decompress src (tokens as above; dictionary references use the stream's dictionary) into dst,
 * sizes as for zs_compress. 0 on success, 1 when dst is too small, 2 on corrupt input. */
int zs_decompress(zs_stream *stream, const uint8_t *src, size_t src_len, uint8_t *dst, size_t *dst_len);

/* Bytes this stream has written in all (compressed and decompressed). */
uint64_t zs_total_out(const zs_stream *stream);

#endif /* ZS_H */
