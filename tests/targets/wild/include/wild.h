/* wild.h - a block packer whose header is written the way real C library headers are: export
 * and attribute macros, a caller-allocatable state union sized with sizeof and ?: (as LZ4's
 * LZ4_stream_u), enumerators computed with sizeof, an inline helper, function-like macros, an
 * asm label, a system type (off_t). Nothing in it is a bug: it must build and fuzz quietly. */
#ifndef WILD_H
#define WILD_H

#include <stddef.h>
#include <sys/types.h>

#if defined(__GNUC__) || defined(__clang__)
#  define WILD_API __attribute__((visibility("default")))
#  define WILD_PURE __attribute__((pure))
#  define WILD_DEPRECATED(message) __attribute__((deprecated(message)))
#else
#  define WILD_API
#  define WILD_PURE
#  define WILD_DEPRECATED(message)
#endif

#define WILD_VERSION 10203
#define WILD_MAX_LEVEL (1 << 4)
#define WILD_BOUND(n) ((n) + ((n) >> 3) + 16)
#define WILD_STATE_WORDS ((sizeof(void *) > 4 ? 64 : 32) / sizeof(long))

typedef struct wild_stream wild_stream;

typedef union wild_state_u {
    unsigned char bytes[sizeof(void *) > 4 ? 512 : 256];
    long words[WILD_STATE_WORDS];
} wild_state;

typedef struct {
    int level;
    char tag[sizeof(int) * 2];
} wild_options;

typedef enum {
    WILD_OK = 0,
    WILD_ERR_ARG = -(int)sizeof(int),
    WILD_ERR_SPACE = WILD_ERR_ARG - 1
} wild_status;

WILD_API unsigned wild_version(void) WILD_PURE;
WILD_API size_t wild_bound(size_t n) WILD_PURE;

/* The worst-case packed size, inline: callable through the compiled wrapper. */
static inline size_t wild_bound_inline(size_t n) { return WILD_BOUND(n); }

WILD_API wild_stream *wild_new(int level);
WILD_API void wild_free(wild_stream *stream);

/* Packs src into dst (run-length: a count byte and a value byte per run); *written gets the
 * packed size. WILD_ERR_SPACE when dst_capacity is too small. */
WILD_API int wild_pack(wild_stream *stream, const unsigned char *src, size_t src_size,
                       unsigned char *dst, size_t dst_capacity, size_t *written);

/* How many input bytes the stream has packed so far. */
WILD_API off_t wild_offset(const wild_stream *stream);

/* The level of the stream, or of the options when stream is NULL. */
WILD_API int wild_level(const wild_stream *stream, const wild_options *options);

WILD_DEPRECATED("use wild_bound") WILD_API size_t wild_old_bound(size_t n);

/* Exported under another symbol name. */
int wild_checksum(const unsigned char *data, size_t size) __asm__("wild_checksum_v2");

#endif
