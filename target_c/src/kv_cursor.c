/* kv_cursor.c - cursors borrowing their store. */
#include "kv_internal.h"

#include <stdlib.h>

kv_cursor *kv_cursor_open(kv_store *store) {
    if (!store) {
        kv__fail(KV_ERR_INVALID, "kv_cursor_open: store is NULL");
        return NULL;
    }
    kv_cursor *c = calloc(1, sizeof *c);
    if (!c) {
        kv__fail(KV_ERR_NOMEM, "kv_cursor_open: out of memory");
        return NULL;
    }
    c->store = store;
    c->generation = store->generation;
    c->next_open = store->cursors;
    store->cursors = c;
    return c;
}

kv_status kv_cursor_next(kv_cursor *c, const char **key, const uint8_t **value, size_t *len) {
    if (!c || !key) return kv__fail(KV_ERR_INVALID, "kv_cursor_next: cursor or key is NULL");
    if (!c->store) return kv__fail(KV_ERR_INVALIDATED, "kv_cursor_next: the store was closed");
    if (c->generation != c->store->generation)
        return kv__fail(KV_ERR_INVALIDATED, "kv_cursor_next: the store changed");
    struct kv_entry *e;
    if (!c->started) {
        e = c->store->head;
        c->started = 1;
    } else {
#if KV_BUG_CURSOR_DELETE_UAF
        /* the successor is looked up only now, through the entry returned last */
        e = c->current ? c->current->next : c->upcoming;
#else
        e = c->upcoming;
#endif
    }
    c->current = e;
    c->upcoming = e ? e->next : NULL;
    if (!e) return KV_ERR_NOT_FOUND;
    *key = e->key;
    if (value) *value = e->value;
    if (len) *len = e->len;
    return KV_OK;
}

void kv_cursor_close(kv_cursor *c) {
    if (!c) return;
    if (c->store) {
        kv_cursor **link = &c->store->cursors;
        while (*link && *link != c) link = &(*link)->next_open;
        if (*link) *link = c->next_open;
    }
    free(c);
}

/* entry was just unlinked from store (generation already bumped). A cursor whose last
 * returned entry it was stays valid; every other cursor is invalidated. */
void kv__cursors_entry_removed(kv_store *store, struct kv_entry *entry) {
    for (kv_cursor *c = store->cursors; c; c = c->next_open) {
        KV_REACHED(CURSOR_DELETE_UAF);
        if (c->current != entry || c->generation + 1 != store->generation) continue;
        KV_TRIGGERED(CURSOR_DELETE_UAF);
#if !KV_BUG_CURSOR_DELETE_UAF
        c->current = NULL;
#endif
        c->generation = store->generation;
    }
}

void kv__cursors_detach(kv_store *store) {
    for (kv_cursor *c = store->cursors; c; c = c->next_open) c->store = NULL;
    store->cursors = NULL;
}
