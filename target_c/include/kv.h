/*
 * kv.h - libkv, a small in-memory key-value store with change subscriptions
 * and a binary snapshot format.
 *
 * Ownership words used in this header:
 *   [owned]     the caller owns the returned pointer and releases it with kv_free()
 *               (or the release function named), exactly once.
 *   [borrowed]  the pointer belongs to the library; the comment states until when it
 *               stays valid. The caller never frees it.
 *   [static]    valid for the life of the process; never freed.
 *   [takes]     the library takes ownership of the argument from the call on, whether
 *               the call succeeds or fails; the caller must not touch it afterwards.
 *
 * Keys are C strings of 1..KV_MAX_KEY bytes without NUL bytes. Values are byte
 * buffers of 0..KV_MAX_VALUE bytes given as pointer + length; they may contain NUL
 * bytes. The library stores one extra NUL byte after every value, so a borrowed value
 * is also a NUL-terminated string when it has no NUL byte of its own.
 *
 * Every function that returns kv_status (or NULL / 0 on failure) records a message
 * for the failure in the calling thread's last-error slot (see kv_last_error).
 * A store is not thread-safe: one thread at a time.
 */
#ifndef KV_H
#define KV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kv_store kv_store;
typedef struct kv_cursor kv_cursor;
typedef uint64_t kv_sub_id;

typedef enum kv_status {
    KV_OK = 0,
    KV_ERR_INVALID = 1,      /* NULL where a pointer is required, or an argument out of range */
    KV_ERR_NOT_FOUND = 2,    /* no such key / subscription; end of a cursor */
    KV_ERR_NOMEM = 3,
    KV_ERR_EMBEDDED_NUL = 4, /* a key, or a value asked for as a C string, contains a NUL byte */
    KV_ERR_TOO_LARGE = 5,    /* key or value above its limit */
    KV_ERR_CORRUPT = 6,      /* a snapshot that does not follow the format below */
    KV_ERR_CAPACITY = 7,     /* the caller's buffer is too small; *needed tells the size */
    KV_ERR_INVALIDATED = 8,  /* a cursor used after a change to its store */
    KV_ERR_BUSY = 9          /* a change to the store from inside one of its notifications */
} kv_status;

enum {
    KV_STATUS_COUNT = 10,
    KV_MAX_KEY = 255,
    KV_MAX_VALUE = 1048576,
    KV_OPEN_DEFAULT = 0,
    KV_OPEN_DEFERRED = 1     /* queue notifications until kv_dispatch / kv_dispatch_threaded */
};

typedef enum kv_event {
    KV_EVENT_PUT = 1,        /* key now holds value[0..len) */
    KV_EVENT_DELETE = 2      /* key was removed (kv_delete or kv_take); value is NULL, len 0 */
} kv_event;

/* ---- lifecycle ------------------------------------------------------------------ */

/* [static] the library version, e.g. "1.0.0". */
const char *kv_version(void);

/* [owned] a new empty store, released with kv_close(). NULL on allocation failure.
 * flags: KV_OPEN_DEFAULT or KV_OPEN_DEFERRED. */
kv_store *kv_open(unsigned flags);

/* Releases the store: ends every subscription (its destroy function is called once),
 * drops queued notifications, frees every entry. A cursor still open is detached:
 * only kv_cursor_close() may be called on it afterwards. Every pointer borrowed from
 * the store becomes invalid. NULL is a no-op. Must not be called from a notification. */
void kv_close(kv_store *store);

/* Number of entries. */
size_t kv_count(const kv_store *store);

/* ---- values in and out (strings surface) --------------------------------------- */

/* Stores a copy of value[0..len) under the NUL-terminated key, replacing any value.
 * value may be NULL when len is 0. */
kv_status kv_put(kv_store *store, const char *key, const uint8_t *value, size_t len);

/* Like kv_put, with the key given as key[0..key_len). A key containing a NUL byte is
 * refused with KV_ERR_EMBEDDED_NUL (like Rust's CString::new). */
kv_status kv_putn(kv_store *store, const char *key, size_t key_len,
                  const uint8_t *value, size_t len);

/* [takes] value, which must come from malloc() (or be NULL when len is 0): the
 * library stores it without copying and frees it when the entry goes. On failure
 * it is freed before the call returns. */
kv_status kv_put_owned(kv_store *store, const char *key, uint8_t *value, size_t len);

/* Removes the entry. */
kv_status kv_delete(kv_store *store, const char *key);

/* Removes the entry and hands its value to the caller: *out [owned] (kv_free), never
 * NULL on success, NUL-terminated after *out_len bytes. */
kv_status kv_take(kv_store *store, const char *key, uint8_t **out, size_t *out_len);

/* *out [owned] (kv_free): a copy of the value, NUL-terminated after *out_len bytes,
 * never NULL on success (also for an empty value). */
kv_status kv_get_copy(kv_store *store, const char *key, uint8_t **out, size_t *out_len);

/* [borrowed] the stored bytes (followed by a NUL byte), valid until the next call that
 * changes or removes this key (kv_put*, kv_delete, kv_take, kv_snapshot_load) or
 * kv_close(). NULL when the key is missing. out_len may be NULL. */
const uint8_t *kv_get_borrowed(kv_store *store, const char *key, size_t *out_len);

/* [owned] (kv_free) the value as a NUL-terminated C string. NULL with
 * KV_ERR_EMBEDDED_NUL when the value contains a NUL byte. */
char *kv_get_cstr(kv_store *store, const char *key);

/* [owned] (kv_free) the value decoded as UTF-8, every ill-formed sequence replaced by
 * U+FFFD (maximal subparts, as Python's errors="replace" does), NUL-terminated.
 * *out_len (may be NULL) receives the length without the NUL. The result can be up to
 * three times longer than the value. */
char *kv_get_utf8_lossy(kv_store *store, const char *key, size_t *out_len);

/* Copies the value and a terminating NUL into buf[0..cap). *needed (may be NULL)
 * receives len + 1 whatever the outcome. When cap < len + 1: KV_ERR_CAPACITY, and buf
 * holds the first cap - 1 bytes and a NUL (nothing is written when cap is 0).
 * KV_ERR_EMBEDDED_NUL (buf untouched) when the value contains a NUL byte. */
kv_status kv_copy_value(kv_store *store, const char *key, char *buf, size_t cap,
                        size_t *needed);

/* Releases memory the library handed out as [owned]. NULL is a no-op. */
void kv_free(void *ptr);

/* ---- cursors (ownership surface) ------------------------------------------------- */

/* [owned] a cursor over the entries in insertion order, released with kv_cursor_close().
 * The cursor borrows the store. While it is open the caller may remove the entry the
 * cursor returned last (kv_delete or kv_take); any other change to the store invalidates
 * the cursor (kv_cursor_next then returns KV_ERR_INVALIDATED). */
kv_cursor *kv_cursor_open(kv_store *store);

/* Advances. KV_OK with *key and *value [borrowed] (valid until the next kv_cursor_next
 * or kv_cursor_close, or a change to the store); KV_ERR_NOT_FOUND at the end;
 * KV_ERR_INVALIDATED after a forbidden change or kv_close of the store.
 * value and len may be NULL. */
kv_status kv_cursor_next(kv_cursor *cursor, const char **key, const uint8_t **value,
                         size_t *len);

/* Releases the cursor. NULL is a no-op. */
void kv_cursor_close(kv_cursor *cursor);

/* ---- subscriptions (callbacks surface) ------------------------------------------- */

/* key and value are [borrowed] for the duration of the call only. */
typedef void (*kv_notify_fn)(void *user_data, kv_event event, const char *key,
                             const uint8_t *value, size_t len);
typedef void (*kv_destroy_fn)(void *user_data);

/* Calls fn(user_data, ...) for every change to a key that starts with prefix (NULL or
 * "" = every key); prefix is copied. destroy (may be NULL) is called exactly once with
 * user_data when the subscription ends (kv_unsubscribe or kv_close); user_data must stay
 * valid until then. Returns the subscription id (never 0), or 0 on failure.
 * Inside fn the caller may read the store, kv_subscribe and kv_unsubscribe (any
 * subscription, its own included); changes to the store fail with KV_ERR_BUSY.
 * Without KV_OPEN_DEFERRED, fn runs during the call that made the change. */
kv_sub_id kv_subscribe(kv_store *store, const char *prefix, kv_notify_fn fn,
                       void *user_data, kv_destroy_fn destroy);

/* Ends a subscription: fn is not called again, queued notifications for it are
 * dropped. Called from inside a notification, destroy runs when that dispatch returns;
 * otherwise before kv_unsubscribe returns. KV_ERR_NOT_FOUND for an unknown id. */
kv_status kv_unsubscribe(kv_store *store, kv_sub_id id);

/* KV_OPEN_DEFERRED stores: number of queued notifications. */
size_t kv_pending(const kv_store *store);

/* KV_OPEN_DEFERRED stores: delivers every queued notification on the calling thread. */
kv_status kv_dispatch(kv_store *store);

/* Like kv_dispatch, but from a new worker thread; returns once that thread finished.
 * fn is then called on the worker thread. */
kv_status kv_dispatch_threaded(kv_store *store);

/* ---- errors ---------------------------------------------------------------------- */

/* [static] a fixed message for a status ("unknown status" when out of range). */
const char *kv_strerror(kv_status status);

/* [borrowed] the message of the last failure on the calling thread ("" when none),
 * valid until the next failing kv_ call on this thread, kv_clear_error(), or thread
 * exit. Never NULL. */
const char *kv_last_error(void);

/* Copies the last-error message and a NUL into buf[0..cap). *needed (may be NULL)
 * receives strlen + 1. KV_ERR_CAPACITY when cap is smaller (buf then holds a
 * truncated, NUL-terminated prefix when cap > 0). buf may be NULL when cap is 0. */
kv_status kv_last_error_copy(char *buf, size_t cap, size_t *needed);

/* [owned] (kv_free) a copy of the last-error message. NULL on allocation failure. */
char *kv_last_error_dup(void);

/* Empties the calling thread's last-error slot and frees its memory. */
void kv_clear_error(void);

/* ---- snapshots (records surface) ------------------------------------------------- */

/*
 * Snapshot format, all integers little-endian, no padding anywhere:
 *   header (KV_SNAPSHOT_HEADER_SIZE = 24 bytes)
 *     0  magic        4 bytes "KVS1"
 *     4  version      uint16, KV_SNAPSHOT_VERSION
 *     6  flags        uint16, must be 0
 *     8  count        uint32, number of entries
 *    12  table_offset uint32, offset of the entry table from the start
 *    16  data_offset  uint32, offset of the data area from the start
 *    20  data_size    uint32, size of the data area
 *   entry table: count entries of KV_SNAPSHOT_ENTRY_SIZE = 16 bytes, any offset
 *     0  key_offset   uint32, from data_offset
 *     4  value_offset uint32, from data_offset
 *     8  value_length uint32
 *    12  key_length   uint16, 1..KV_MAX_KEY, the key must not contain NUL
 *    14  type         uint8, KV_VALUE_BYTES or KV_VALUE_TEXT
 *    15  reserved     uint8, must be 0
 *   Every key and value lies inside the data area, which lies inside the snapshot.
 */
enum {
    KV_SNAPSHOT_HEADER_SIZE = 24,
    KV_SNAPSHOT_ENTRY_SIZE = 16,
    KV_SNAPSHOT_VERSION = 1,
    KV_VALUE_BYTES = 0,
    KV_VALUE_TEXT = 1
};

/* *out [owned] (kv_free): the store as a snapshot of *out_len bytes. */
kv_status kv_snapshot_save(const kv_store *store, uint8_t **out, size_t *out_len);

/* Adds every entry of the snapshot data[0..len) to the store (replacing equal keys),
 * notifying subscribers. All or nothing: on KV_ERR_CORRUPT the store is unchanged.
 * data is only read during the call. */
kv_status kv_snapshot_load(kv_store *store, const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* KV_H */
