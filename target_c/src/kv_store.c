/* kv_store.c - the store: lifecycle, entries, and putting values in. */
#include "kv_internal.h"

#include <stdlib.h>
#include <string.h>

const char *kv_version(void) { return "1.0.0"; }

static size_t bucket_of(const char *key, size_t key_len) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < key_len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ull;
    }
    return (size_t)(h % KV_BUCKETS);
}

kv_store *kv_open(unsigned flags) {
    if (flags & ~(unsigned)KV_OPEN_DEFERRED) {
        kv__fail(KV_ERR_INVALID, "kv_open: unknown flags 0x%x", flags);
        return NULL;
    }
    kv_store *store = calloc(1, sizeof *store);
    if (!store) {
        kv__fail(KV_ERR_NOMEM, "kv_open: out of memory");
        return NULL;
    }
    store->flags = flags;
    store->next_sub_id = 1;
    return store;
}

static void entry_free(struct kv_entry *e) {
    free(e->key);
    free(e->value);
    free(e);
}

void kv_close(kv_store *store) {
    if (!store) return;
    kv__cursors_detach(store);
    kv__close_subscriptions(store);
    struct kv_entry *e = store->head;
    while (e) {
        struct kv_entry *next = e->next;
        entry_free(e);
        e = next;
    }
    free(store);
}

size_t kv_count(const kv_store *store) { return store ? store->count : 0; }

int kv__check_key(const char *key, const char *func) {
    if (!key) return kv__fail(KV_ERR_INVALID, "%s: key is NULL", func);
    size_t n = strnlen(key, KV_MAX_KEY + 1);
    if (n == 0) return kv__fail(KV_ERR_INVALID, "%s: empty key", func);
    if (n > KV_MAX_KEY)
        return kv__fail(KV_ERR_TOO_LARGE, "%s: key longer than %d bytes", func, KV_MAX_KEY);
    return KV_OK;
}

struct kv_entry *kv__find(kv_store *store, const char *key) {
    struct kv_entry *cached = store->last_found;
    if (cached && strcmp(cached->key, key) == 0) return cached;
    size_t key_len = strlen(key);
    for (struct kv_entry *e = store->buckets[bucket_of(key, key_len)]; e; e = e->bucket_next) {
        if (e->key_len == key_len && memcmp(e->key, key, key_len) == 0) {
            store->last_found = e;
            return e;
        }
    }
    return NULL;
}

uint8_t *kv__dup_value(const uint8_t *value, size_t len) {
    uint8_t *copy = malloc(len + 1);
    if (!copy) return NULL;
    if (len) memcpy(copy, value, len);
    copy[len] = 0;
    return copy;
}

static void unlink_entry(kv_store *store, struct kv_entry *e) {
    struct kv_entry **link = &store->buckets[bucket_of(e->key, e->key_len)];
    while (*link != e) link = &(*link)->bucket_next;
    *link = e->bucket_next;
    if (e->prev) e->prev->next = e->next; else store->head = e->next;
    if (e->next) e->next->prev = e->prev; else store->tail = e->prev;
    store->count--;
    store->generation++;
}

/* Takes value (len bytes + NUL, cap bytes allocated) in all cases; key is copied. */
kv_status kv__insert(kv_store *store, const char *key, size_t key_len, uint8_t *value,
                     size_t len, size_t cap) {
    struct kv_entry *e = kv__find(store, key);
    if (e) {
        KV_REACHED(REPLACE_LEAK);
        if (len + 1 <= e->cap) {
            /* the new value fits where the old one lives */
            memcpy(e->value, value, len);
            e->value[len] = 0;
            free(value);
        } else {
            KV_TRIGGERED(REPLACE_LEAK);
#if !KV_BUG_REPLACE_LEAK
            free(e->value);
#endif
            e->value = value;
            e->cap = cap;
        }
        e->len = len;
        store->generation++;
    } else {
        e = calloc(1, sizeof *e);
        char *key_copy = malloc(key_len + 1);
        if (!e || !key_copy) {
            free(e);
            free(key_copy);
            free(value);
            return kv__fail(KV_ERR_NOMEM, "out of memory storing key \"%s\"", key);
        }
        memcpy(key_copy, key, key_len + 1);
        e->key = key_copy;
        e->key_len = key_len;
        e->value = value;
        e->len = len;
        e->cap = cap;
        size_t b = bucket_of(key, key_len);
        e->bucket_next = store->buckets[b];
        store->buckets[b] = e;
        e->prev = store->tail;
        if (store->tail) store->tail->next = e; else store->head = e;
        store->tail = e;
        store->count++;
        store->generation++;
    }
    kv__notify(store, KV_EVENT_PUT, e->key, e->value, e->len);
    return KV_OK;
}

static kv_status check_writable(kv_store *store, const char *func) {
    if (!store) return kv__fail(KV_ERR_INVALID, "%s: store is NULL", func);
    if (store->dispatching)
        return kv__fail(KV_ERR_BUSY, "%s: the store cannot change inside a notification", func);
    return KV_OK;
}

static kv_status check_value(const uint8_t *value, size_t len, const char *func) {
    if (!value && len) return kv__fail(KV_ERR_INVALID, "%s: value is NULL with length %zu", func, len);
    if (len > KV_MAX_VALUE)
        return kv__fail(KV_ERR_TOO_LARGE, "%s: value of %zu bytes above %d", func, len, KV_MAX_VALUE);
    return KV_OK;
}

kv_status kv_put(kv_store *store, const char *key, const uint8_t *value, size_t len) {
    kv_status st = check_writable(store, "kv_put");
    if (!st) st = kv__check_key(key, "kv_put");
    if (!st) st = check_value(value, len, "kv_put");
    if (st) return st;
    uint8_t *copy = kv__dup_value(value, len);
    if (!copy) return kv__fail(KV_ERR_NOMEM, "kv_put: out of memory");
    return kv__insert(store, key, strlen(key), copy, len, len + 1);
}

kv_status kv_putn(kv_store *store, const char *key, size_t key_len, const uint8_t *value,
                  size_t len) {
    kv_status st = check_writable(store, "kv_putn");
    if (!st && !key) st = kv__fail(KV_ERR_INVALID, "kv_putn: key is NULL");
    if (!st && key_len == 0) st = kv__fail(KV_ERR_INVALID, "kv_putn: empty key");
    if (!st && key_len > KV_MAX_KEY)
        st = kv__fail(KV_ERR_TOO_LARGE, "kv_putn: key of %zu bytes above %d", key_len, KV_MAX_KEY);
    if (!st) st = check_value(value, len, "kv_putn");
    if (st) return st;
    size_t text_len = strnlen(key, key_len);
    KV_REACHED(PUTN_EMBEDDED_NUL);
    if (text_len != key_len) {
        KV_TRIGGERED(PUTN_EMBEDDED_NUL);
#if !KV_BUG_PUTN_EMBEDDED_NUL
        return kv__fail(KV_ERR_EMBEDDED_NUL, "kv_putn: key has a NUL byte at offset %zu", text_len);
#endif
    }
    char *key_copy = malloc(text_len + 1);
    if (!key_copy) return kv__fail(KV_ERR_NOMEM, "kv_putn: out of memory");
    memcpy(key_copy, key, key_len);
    key_copy[text_len] = '\0';
    uint8_t *copy = kv__dup_value(value, len);
    if (!copy) {
        free(key_copy);
        return kv__fail(KV_ERR_NOMEM, "kv_putn: out of memory");
    }
    st = kv__insert(store, key_copy, text_len, copy, len, len + 1);
    free(key_copy);
    return st;
}

kv_status kv_put_owned(kv_store *store, const char *key, uint8_t *value, size_t len) {
    kv_status st = check_writable(store, "kv_put_owned");
    if (!st) st = kv__check_key(key, "kv_put_owned");
    if (!st) st = check_value(value, len, "kv_put_owned");
    if (st) {
        free(value);
        return st;
    }
    KV_REACHED(PUT_OWNED_MISSING_NUL);
#if KV_BUG_PUT_OWNED_MISSING_NUL
    /* stored as handed over: the buffer has no room for the promised NUL */
    if (!value) value = calloc(1, 1);
    return kv__insert(store, key, strlen(key), value, len, len);
#else
    uint8_t *grown = realloc(value, len + 1);
    if (!grown) {
        free(value);
        return kv__fail(KV_ERR_NOMEM, "kv_put_owned: out of memory");
    }
    grown[len] = 0;
    return kv__insert(store, key, strlen(key), grown, len, len + 1);
#endif
}

static kv_status remove_entry(kv_store *store, const char *key, const char *func,
                              struct kv_entry **removed) {
    kv_status st = check_writable(store, func);
    if (!st) st = kv__check_key(key, func);
    if (st) return st;
    struct kv_entry *e = kv__find(store, key);
    if (!e) return kv__fail(KV_ERR_NOT_FOUND, "%s: key \"%s\" not found", func, key);
    unlink_entry(store, e);
    kv__cursors_entry_removed(store, e);
    *removed = e;
    return KV_OK;
}

kv_status kv_delete(kv_store *store, const char *key) {
    struct kv_entry *e;
    kv_status st = remove_entry(store, key, "kv_delete", &e);
    if (st) return st;
    if (store->last_found == e) store->last_found = NULL;
    kv__notify(store, KV_EVENT_DELETE, e->key, NULL, 0);
    entry_free(e);
    return KV_OK;
}

kv_status kv_take(kv_store *store, const char *key, uint8_t **out, size_t *out_len) {
    if (!out || !out_len) return kv__fail(KV_ERR_INVALID, "kv_take: out or out_len is NULL");
    struct kv_entry *e;
    kv_status st = remove_entry(store, key, "kv_take", &e);
    if (st) return st;
    KV_REACHED(TAKE_STALE_CACHE);
    if (store->last_found == e) {
        KV_TRIGGERED(TAKE_STALE_CACHE);
#if !KV_BUG_TAKE_STALE_CACHE
        store->last_found = NULL;
#endif
    }
    *out = e->value;
    *out_len = e->len;
    e->value = NULL;
    kv__notify(store, KV_EVENT_DELETE, e->key, NULL, 0);
    entry_free(e);
    return KV_OK;
}

void kv_free(void *ptr) { free(ptr); }
