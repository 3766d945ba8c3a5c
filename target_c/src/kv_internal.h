/* kv_internal.h - private structures of libkv shared by its source files. */
#ifndef KV_INTERNAL_H
#define KV_INTERNAL_H

#include "kv.h"

#include <stdarg.h>

#include "kv_canary.h"

#define KV_BUCKETS 64

struct kv_entry {
    struct kv_entry *bucket_next; /* hash chain */
    struct kv_entry *prev;        /* insertion order */
    struct kv_entry *next;
    char *key;
    size_t key_len;
    uint8_t *value;               /* len bytes + one NUL byte */
    size_t len;
    size_t cap;                   /* bytes allocated for value, NUL included */
};

struct kv_sub {
    struct kv_sub *next;
    kv_sub_id id;
    char *prefix;
    size_t prefix_len;
    kv_notify_fn fn;
    void *user_data;
    kv_destroy_fn destroy;
    int dead;                     /* unsubscribed during a dispatch, reaped after it */
};

struct kv_queued {                /* a deferred notification for one subscriber */
    struct kv_queued *next;
    struct kv_sub *sub;
    kv_event event;
    char *key;
    uint8_t *value;
    size_t len;
};

struct kv_cursor {
    kv_store *store;              /* NULL once the store was closed */
    struct kv_cursor *next_open;
    struct kv_entry *current;     /* returned last */
    struct kv_entry *upcoming;    /* returned next */
    uint64_t generation;
    int started;
};

struct kv_store {
    unsigned flags;
    struct kv_entry *buckets[KV_BUCKETS];
    struct kv_entry *head, *tail;
    size_t count;
    uint64_t generation;          /* bumped by every change */
    struct kv_entry *last_found;  /* one-entry lookup cache */
    struct kv_sub *subs;
    kv_sub_id next_sub_id;
    int dispatching;              /* depth of notification dispatch */
    struct kv_sub *running;       /* the subscription being called */
    struct kv_queued *queue_head, *queue_tail;
    size_t queued;
    struct kv_cursor *cursors;
};

/* kv_error.c */
kv_status kv__fail(kv_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* kv_store.c */
struct kv_entry *kv__find(kv_store *store, const char *key);
int kv__check_key(const char *key, const char *func);
kv_status kv__insert(kv_store *store, const char *key, size_t key_len, uint8_t *value,
                     size_t len, size_t cap);
uint8_t *kv__dup_value(const uint8_t *value, size_t len);

/* kv_subs.c */
void kv__notify(kv_store *store, kv_event event, const char *key, const uint8_t *value,
                size_t len);
void kv__close_subscriptions(kv_store *store);

/* kv_cursor.c */
void kv__cursors_entry_removed(kv_store *store, struct kv_entry *entry);
void kv__cursors_detach(kv_store *store);

#endif /* KV_INTERNAL_H */
