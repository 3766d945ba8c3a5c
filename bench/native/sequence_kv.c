/* Native libFuzzer sequence driver for the embedded libkv: the calls the generic `sequence`
 * fuzzer makes from target.toml, the contract kept by hand - stores and cursors closed once,
 * owned results freed with kv_free, kv_put_owned handed a malloc'd value, borrowed results
 * read while valid, user_data alive until its subscription's destroy, the calls kv.h allows
 * from inside a notification made there. Anchor of bench/overhead.py --configs sequence. */
#include "sequence_input.h"
#include "kv.h"

#define MAX_STORES 8
#define MAX_CURSORS 8
#define MAX_SUBS 32

static kv_store *stores[MAX_STORES];
static unsigned nstores;
static kv_cursor *cursors[MAX_CURSORS];
static unsigned ncursors;
static struct { kv_store *store; kv_sub_id id; char *token; } subs[MAX_SUBS];
static unsigned nsubs;
static Input *current;  /* the input being run, for calls made from notifications */
static int depth;
static volatile size_t sink;

static kv_store *new_store(Input *in) {
    if (nstores == MAX_STORES) return stores[pick(in, nstores)];
    kv_store *store = kv_open((unsigned)edge_int(in, 0, UINT32_MAX));
    if (store) stores[nstores++] = store;
    return store;
}

static kv_store *some_store(Input *in) { return nstores ? stores[pick(in, nstores)] : new_store(in); }

static void owned(uint8_t *out, size_t len) {
    if (out) { remember(out, len); kv_free(out); }
}

static void get_copy(Input *in, kv_store *store) {
    char *key = text(in, NULL);
    uint8_t *out = NULL;
    size_t len = 0;
    if (kv_get_copy(store, key, &out, &len) == KV_OK) owned(out, len);
    free(key);
}

static void on_destroy(void *user_data) { sink += (size_t)user_data; }

static void on_notify(void *user_data, kv_event event, const char *key, const uint8_t *value, size_t len) {
    sink += (size_t)user_data + (size_t)event + strlen(key);
    if (value && len) remember(value, len < MAX_BYTES ? len : MAX_BYTES), sink += value[len - 1];
    Input *in = current;
    if (!in || depth || !in->size || pick(in, 4)) return;
    depth++;
    kv_store *store = nstores ? stores[pick(in, nstores)] : NULL;
    if (store && nsubs) {
        switch (pick(in, 3)) {  /* kv.h: unsubscribe, subscribe and get_copy are allowed here */
        case 0: kv_unsubscribe(store, subs[pick(in, nsubs)].id); break;
        case 1: if (nsubs < MAX_SUBS) {
                    char *token = malloc(1);
                    subs[nsubs].store = store, subs[nsubs].token = token;
                    subs[nsubs++].id = kv_subscribe(store, NULL, on_notify, token, on_destroy);
                }
                break;
        case 2: get_copy(in, store); break;
        }
    }
    depth--;
}

static void step(Input *in) {
    kv_store *store;
    char *key;
    uint8_t *value, *out;
    size_t len, klen;
    switch (pick(in, 27)) {
    case 0: sink += strlen(kv_version()); break;
    case 1: new_store(in); break;
    case 2: if (nstores) { unsigned i = pick(in, nstores); kv_close(stores[i]); stores[i] = stores[--nstores]; } break;
    case 3: if ((store = some_store(in))) sink += kv_count(store); break;
    case 4: case 5:
        if (!(store = some_store(in))) break;
        key = text(in, NULL), value = bytes(in, &len, 0);
        kv_put(store, key, pick(in, 16) ? value : NULL, len);
        free(key), free(value);
        break;
    case 6:
        if (!(store = some_store(in))) break;
        key = (char *)bytes(in, &klen, 0), value = bytes(in, &len, 0);
        kv_putn(store, key, klen, value, len);
        free(key), free(value);
        break;
    case 7:
        if (!(store = some_store(in))) break;
        key = text(in, NULL), value = bytes(in, &len, 0);
        kv_put_owned(store, key, value, len);  /* the value is the store's now */
        free(key);
        break;
    case 8:
        if (!(store = some_store(in))) break;
        key = text(in, NULL);
        kv_delete(store, key);
        free(key);
        break;
    case 9:
        if (!(store = some_store(in))) break;
        key = text(in, NULL), out = NULL, len = 0;
        if (kv_take(store, key, &out, &len) == KV_OK) owned(out, len);
        free(key);
        break;
    case 10: if ((store = some_store(in))) get_copy(in, store); break;
    case 11: {
        if (!(store = some_store(in))) break;
        key = text(in, NULL);
        const uint8_t *borrowed = kv_get_borrowed(store, key, &len);
        if (borrowed) remember(borrowed, len);
        free(key);
        break;
    }
    case 12: {
        if (!(store = some_store(in))) break;
        key = text(in, NULL);
        char *cstr = kv_get_cstr(store, key);
        owned((uint8_t *)cstr, cstr ? strlen(cstr) : 0);
        free(key);
        break;
    }
    case 13:
        if (!(store = some_store(in))) break;
        key = text(in, NULL);
        out = (uint8_t *)kv_get_utf8_lossy(store, key, &len);
        owned(out, len);
        free(key);
        break;
    case 14: {
        if (!(store = some_store(in))) break;
        static const size_t caps[] = {0, 1, 2, 8};
        size_t cap = pick(in, 2) ? caps[pick(in, 4)] : pick(in, 257), needed;
        key = text(in, NULL);
        char *buf = malloc(cap ? cap : 1);
        kv_copy_value(store, key, buf, cap, &needed);
        free(buf), free(key);
        break;
    }
    case 15:
        if ((store = some_store(in)) && ncursors < MAX_CURSORS) {
            kv_cursor *cursor = kv_cursor_open(store);
            if (cursor) cursors[ncursors++] = cursor;
        }
        break;
    case 16: {
        if (!ncursors) break;
        const char *k;
        const uint8_t *v;
        if (kv_cursor_next(cursors[pick(in, ncursors)], &k, &v, &len) == KV_OK) {
            remember(k, strlen(k));
            if (v) remember(v, len < MAX_BYTES ? len : MAX_BYTES);
        }
        break;
    }
    case 17: if (ncursors) { unsigned i = pick(in, ncursors); kv_cursor_close(cursors[i]); cursors[i] = cursors[--ncursors]; } break;
    case 18: {
        if (!(store = some_store(in)) || nsubs == MAX_SUBS) break;
        char *prefix = pick(in, 16) ? text(in, NULL) : NULL, *token = malloc(1);
        subs[nsubs].store = store, subs[nsubs].token = token;
        subs[nsubs++].id = kv_subscribe(store, prefix, on_notify, token, pick(in, 8) ? on_destroy : NULL);
        free(prefix);
        break;
    }
    case 19:
        if (!(store = some_store(in))) break;
        kv_unsubscribe(store, nsubs && pick(in, 8) ? subs[pick(in, nsubs)].id : (kv_sub_id)pick(in, 17));
        break;
    case 20: if ((store = some_store(in))) sink += kv_pending(store); break;
    case 21: if ((store = some_store(in))) kv_dispatch(store); break;
    case 22: if ((store = some_store(in))) kv_dispatch_threaded(store); break;
    case 23: sink += strlen(kv_strerror((kv_status)edge_int(in, INT32_MIN, INT32_MAX))); break;
    case 24: {
        const char *error = kv_last_error();
        if (error) remember(error, strlen(error));
        break;
    }
    case 25: {
        static const size_t caps[] = {0, 1, 2, 8};
        size_t cap = caps[pick(in, 4)], needed;
        char *buf = malloc(cap ? cap : 1);
        kv_last_error_copy(buf, cap, &needed);
        free(buf);
        char *dup = kv_last_error_dup();
        owned((uint8_t *)dup, dup ? strlen(dup) : 0);
        kv_clear_error();
        break;
    }
    case 26:
        if (!(store = some_store(in))) break;
        if (pick(in, 2)) {
            out = NULL;
            if (kv_snapshot_save(store, &out, &len) == KV_OK) owned(out, len);
        } else {
            value = bytes(in, &len, 0);
            kv_snapshot_load(store, value, len);
            free(value);
        }
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Input in = {data, size};
    sequence_begin();
    current = &in;
    for (unsigned i = 0; i < MAX_STEPS && in.size; i++) step(&in);
    current = NULL;
    while (ncursors) kv_cursor_close(cursors[--ncursors]);
    while (nstores) kv_close(stores[--nstores]);
    for (unsigned i = 0; i < nsubs; i++)
        if (subs[i].token) free(subs[i].token);
    nsubs = 0;
    return 0;
}
