/* kv_values.c - getting values out: copies, borrowed views and string conversions. */
#include "kv_internal.h"

#include <stdlib.h>
#include <string.h>

static kv_status lookup(kv_store *store, const char *key, const char *func,
                        struct kv_entry **found) {
    *found = NULL;
    if (!store) return kv__fail(KV_ERR_INVALID, "%s: store is NULL", func);
    kv_status st = kv__check_key(key, func);
    if (st) return st;
    *found = kv__find(store, key);
    return *found ? KV_OK : kv__fail(KV_ERR_NOT_FOUND, "%s: key \"%s\" not found", func, key);
}

kv_status kv_get_copy(kv_store *store, const char *key, uint8_t **out, size_t *out_len) {
    if (!out || !out_len) return kv__fail(KV_ERR_INVALID, "kv_get_copy: out or out_len is NULL");
    struct kv_entry *e;
    kv_status st = lookup(store, key, "kv_get_copy", &e);
    if (st) return st;
    uint8_t *copy = kv__dup_value(e->value, e->len);
    if (!copy) return kv__fail(KV_ERR_NOMEM, "kv_get_copy: out of memory");
    *out = copy;
    *out_len = e->len;
    return KV_OK;
}

const uint8_t *kv_get_borrowed(kv_store *store, const char *key, size_t *out_len) {
    struct kv_entry *e;
    if (lookup(store, key, "kv_get_borrowed", &e)) return NULL;
    if (out_len) *out_len = e->len;
    return e->value;
}

char *kv_get_cstr(kv_store *store, const char *key) {
    struct kv_entry *e;
    if (lookup(store, key, "kv_get_cstr", &e)) return NULL;
    KV_REACHED(PUT_OWNED_MISSING_NUL);
    if (e->cap == e->len) KV_TRIGGERED(PUT_OWNED_MISSING_NUL);
    /* every stored value carries a NUL after its bytes: strlen finds it, or an
     * earlier NUL inside the value */
    size_t n = strlen((const char *)e->value);
    if (n != e->len) {
        kv__fail(KV_ERR_EMBEDDED_NUL, "kv_get_cstr: value of \"%s\" has a NUL byte at offset %zu",
                 key, n);
        return NULL;
    }
    char *copy = malloc(n + 1);
    if (!copy) {
        kv__fail(KV_ERR_NOMEM, "kv_get_cstr: out of memory");
        return NULL;
    }
    memcpy(copy, e->value, n + 1);
    return copy;
}

/* ---- lossy UTF-8 ------------------------------------------------------------------ */

/* One step of UTF-8 decoding at s[0..n): the well-formed sequence or, when ill-formed,
 * its maximal subpart (at least one byte), and whether the input ended inside it. */
struct utf8_step {
    size_t length;
    int valid;
    int truncated;
};

static struct utf8_step utf8_sequence(const uint8_t *s, size_t n) {
    struct utf8_step step = {1, 1, 0};
    uint8_t b = s[0];
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b < 0x80) return step;
    if (b >= 0xC2 && b <= 0xDF) need = 1;
    else if (b == 0xE0) { need = 2; lo = 0xA0; }
    else if (b == 0xED) { need = 2; hi = 0x9F; }
    else if (b >= 0xE1 && b <= 0xEF) need = 2;
    else if (b == 0xF0) { need = 3; lo = 0x90; }
    else if (b == 0xF4) { need = 3; hi = 0x8F; }
    else if (b >= 0xF1 && b <= 0xF3) need = 3;
    else { step.valid = 0; return step; }
    size_t i = 1;
    for (; i <= need && i < n; i++) {
        uint8_t c = s[i];
        if (c < (i == 1 ? lo : 0x80) || c > (i == 1 ? hi : 0xBF)) break;
    }
    step.length = i;
    step.valid = i == need + 1;
    step.truncated = !step.valid && i == n;
    return step;
}

static const uint8_t REPLACEMENT[3] = {0xEF, 0xBF, 0xBD};

/* Output size of the lossy conversion, without the NUL. */
static size_t utf8_lossy_size(const uint8_t *s, size_t n) {
    size_t size = 0, i = 0;
    while (i < n) {
        struct utf8_step step = utf8_sequence(s + i, n - i);
        i += step.length;
        if (step.valid) {
            size += step.length;
            continue;
        }
        KV_REACHED(UTF8_LOSSY_TAIL);
        if (step.truncated) {
            /* a sequence cut short by the end of the value */
            if (step.length < sizeof REPLACEMENT) KV_TRIGGERED(UTF8_LOSSY_TAIL);
#if KV_BUG_UTF8_LOSSY_TAIL
            size += step.length; /* "kept as is" - but it is replaced like any other */
            continue;
#endif
        }
        size += sizeof REPLACEMENT;
    }
    return size;
}

char *kv_get_utf8_lossy(kv_store *store, const char *key, size_t *out_len) {
    struct kv_entry *e;
    if (lookup(store, key, "kv_get_utf8_lossy", &e)) return NULL;
    const uint8_t *s = e->value;
    size_t n = e->len;
    size_t size = utf8_lossy_size(s, n);
    char *out = malloc(size + 1);
    if (!out) {
        kv__fail(KV_ERR_NOMEM, "kv_get_utf8_lossy: out of memory");
        return NULL;
    }
    size_t o = 0, i = 0;
    while (i < n) {
        struct utf8_step step = utf8_sequence(s + i, n - i);
        if (step.valid) {
            memcpy(out + o, s + i, step.length);
            o += step.length;
        } else {
            memcpy(out + o, REPLACEMENT, sizeof REPLACEMENT);
            o += sizeof REPLACEMENT;
        }
        i += step.length;
    }
    out[o] = '\0';
    if (out_len) *out_len = o;
    return out;
}

kv_status kv_copy_value(kv_store *store, const char *key, char *buf, size_t cap,
                        size_t *needed) {
    struct kv_entry *e;
    kv_status st = lookup(store, key, "kv_copy_value", &e);
    if (st) return st;
    if (needed) *needed = e->len + 1;
    if (cap > 0 && !buf) return kv__fail(KV_ERR_INVALID, "kv_copy_value: buf is NULL");
    if (memchr(e->value, 0, e->len))
        return kv__fail(KV_ERR_EMBEDDED_NUL, "kv_copy_value: value of \"%s\" has a NUL byte", key);
    KV_REACHED(COPY_VALUE_OFF_BY_ONE);
    if (e->len == cap && cap > 0) KV_TRIGGERED(COPY_VALUE_OFF_BY_ONE);
#if KV_BUG_COPY_VALUE_OFF_BY_ONE
    if (e->len > cap || cap == 0) {
#else
    if (e->len >= cap) {
#endif
        if (cap > 0) {
            memcpy(buf, e->value, cap - 1);
            buf[cap - 1] = '\0';
        }
        return kv__fail(KV_ERR_CAPACITY, "kv_copy_value: %zu bytes needed, buffer holds %zu",
                        e->len + 1, cap);
    }
    memcpy(buf, e->value, e->len);
    buf[e->len] = '\0';
    return KV_OK;
}
