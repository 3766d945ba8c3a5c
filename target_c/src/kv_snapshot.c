/* kv_snapshot.c - the binary snapshot format: save and all-or-nothing load. */
#include "kv_internal.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t MAGIC[4] = {'K', 'V', 'S', '1'};

struct snap_header {
    uint16_t version, flags;
    uint32_t count, table_offset, data_offset, data_size;
};

/* An entry table record as laid out in the file (the file has no padding; this
 * struct happens to have none either, but needs 4-byte alignment). */
struct snap_record {
    uint32_t key_offset, value_offset, value_length;
    uint16_t key_length;
    uint8_t type, reserved;
};

struct parsed_entry {
    char *key;
    uint8_t *value;
    size_t len;
};

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

kv_status kv_snapshot_save(const kv_store *store, uint8_t **out, size_t *out_len) {
    if (!store || !out || !out_len)
        return kv__fail(KV_ERR_INVALID, "kv_snapshot_save: store, out or out_len is NULL");
    uint64_t data_size = 0;
    for (const struct kv_entry *e = store->head; e; e = e->next) data_size += e->key_len + e->len;
    uint64_t table = (uint64_t)KV_SNAPSHOT_ENTRY_SIZE * store->count;
    uint64_t total = KV_SNAPSHOT_HEADER_SIZE + table + data_size;
    if (total > UINT32_MAX) return kv__fail(KV_ERR_TOO_LARGE, "kv_snapshot_save: store too large");
    uint8_t *buf = calloc(1, (size_t)total);
    if (!buf) return kv__fail(KV_ERR_NOMEM, "kv_snapshot_save: out of memory");
    memcpy(buf, MAGIC, 4);
    put_u16(buf + 4, KV_SNAPSHOT_VERSION);
    put_u32(buf + 8, (uint32_t)store->count);
    put_u32(buf + 12, KV_SNAPSHOT_HEADER_SIZE);
    put_u32(buf + 16, (uint32_t)(KV_SNAPSHOT_HEADER_SIZE + table));
    put_u32(buf + 20, (uint32_t)data_size);
    uint8_t *rec = buf + KV_SNAPSHOT_HEADER_SIZE;
    uint8_t *data = rec + table;
    uint32_t at = 0;
    for (const struct kv_entry *e = store->head; e; e = e->next, rec += KV_SNAPSHOT_ENTRY_SIZE) {
        put_u32(rec, at);
        memcpy(data + at, e->key, e->key_len);
        at += (uint32_t)e->key_len;
        put_u32(rec + 4, at);
        put_u32(rec + 8, (uint32_t)e->len);
        put_u16(rec + 12, (uint16_t)e->key_len);
        rec[14] = KV_VALUE_BYTES;
        memcpy(data + at, e->value, e->len);
        at += (uint32_t)e->len;
    }
    *out = buf;
    *out_len = (size_t)total;
    return KV_OK;
}

static kv_status read_header(const uint8_t *data, size_t len, struct snap_header *h) {
    if (len < KV_SNAPSHOT_HEADER_SIZE)
        return kv__fail(KV_ERR_CORRUPT, "snapshot: %zu bytes, shorter than a header", len);
    if (memcmp(data, MAGIC, 4) != 0) return kv__fail(KV_ERR_CORRUPT, "snapshot: bad magic");
    h->version = get_u16(data + 4);
    h->flags = get_u16(data + 6);
    h->count = get_u32(data + 8);
    h->table_offset = get_u32(data + 12);
    h->data_offset = get_u32(data + 16);
    h->data_size = get_u32(data + 20);
    if (h->version != KV_SNAPSHOT_VERSION)
        return kv__fail(KV_ERR_CORRUPT, "snapshot: version %u not supported", h->version);
    if (h->flags != 0) return kv__fail(KV_ERR_CORRUPT, "snapshot: unknown flags 0x%x", h->flags);
    if ((uint64_t)h->data_offset + h->data_size > len)
        return kv__fail(KV_ERR_CORRUPT, "snapshot: data area outside the snapshot");
    KV_REACHED(COUNT_OVERFLOW);
    if ((uint64_t)h->count * KV_SNAPSHOT_ENTRY_SIZE > INT32_MAX) KV_TRIGGERED(COUNT_OVERFLOW);
#if KV_BUG_COUNT_OVERFLOW
    int table_size = (int)h->count * KV_SNAPSHOT_ENTRY_SIZE;
    if (table_size < 0 || (uint64_t)h->table_offset + (uint64_t)table_size > len)
#else
    if ((uint64_t)h->table_offset + (uint64_t)h->count * KV_SNAPSHOT_ENTRY_SIZE > len)
#endif
        return kv__fail(KV_ERR_CORRUPT, "snapshot: entry table outside the snapshot");
    return KV_OK;
}

static void read_record(const uint8_t *table, uint32_t i, struct snap_record *r) {
    KV_REACHED(MISALIGNED_RECORD);
    if (((uintptr_t)table & 3) != 0) KV_TRIGGERED(MISALIGNED_RECORD);
#if KV_BUG_MISALIGNED_RECORD
    /* "the table is an array of records" - true only when it happens to be aligned */
    const struct snap_record *rec = (const struct snap_record *)table + i;
    r->key_offset = rec->key_offset;
    r->value_offset = rec->value_offset;
    r->value_length = rec->value_length;
    r->key_length = rec->key_length;
    r->type = rec->type;
    r->reserved = rec->reserved;
#else
    const uint8_t *p = table + (size_t)i * KV_SNAPSHOT_ENTRY_SIZE;
    r->key_offset = get_u32(p);
    r->value_offset = get_u32(p + 4);
    r->value_length = get_u32(p + 8);
    r->key_length = get_u16(p + 12);
    r->type = p[14];
    r->reserved = p[15];
#endif
}

/* Validates record i and copies its key and value out of the data area. */
static kv_status parse_record(const uint8_t *area, const struct snap_header *h,
                              const struct snap_record *r, uint32_t i, struct parsed_entry *out) {
    if (r->key_length == 0 || r->key_length > KV_MAX_KEY)
        return kv__fail(KV_ERR_CORRUPT, "snapshot entry %u: key length %u", i, r->key_length);
    if ((uint64_t)r->key_offset + r->key_length > h->data_size)
        return kv__fail(KV_ERR_CORRUPT, "snapshot entry %u: key outside the data area", i);
    if (r->type != KV_VALUE_BYTES && r->type != KV_VALUE_TEXT) {
        KV_REACHED(ABORT_ON_TYPE);
        KV_TRIGGERED(ABORT_ON_TYPE);
#if KV_BUG_ABORT_ON_TYPE
        abort(); /* "unreachable": a panic that crosses the boundary */
#endif
        return kv__fail(KV_ERR_CORRUPT, "snapshot entry %u: unknown value type %u", i, r->type);
    }
    if (r->reserved != 0 || r->value_length > KV_MAX_VALUE)
        return kv__fail(KV_ERR_CORRUPT, "snapshot entry %u: bad reserved byte or value length", i);
    KV_REACHED(TRUSTED_VALUE_LENGTH);
    if (r->value_offset > h->data_size)
        return kv__fail(KV_ERR_CORRUPT, "snapshot entry %u: value outside the data area", i);
    if ((uint64_t)r->value_offset + r->value_length > h->data_size) {
        KV_TRIGGERED(TRUSTED_VALUE_LENGTH);
#if !KV_BUG_TRUSTED_VALUE_LENGTH
        return kv__fail(KV_ERR_CORRUPT, "snapshot entry %u: value outside the data area", i);
#endif
    }
    char *key = malloc((size_t)r->key_length + 1);
    uint8_t *value = malloc((size_t)r->value_length + 1);
    if (!key || !value) {
        free(key);
        free(value);
        return kv__fail(KV_ERR_NOMEM, "snapshot entry %u: out of memory", i);
    }
    out->key = key; /* recorded before validation so the caller's cleanup owns it */
    out->value = value;
    memcpy(key, area + r->key_offset, r->key_length);
    key[r->key_length] = '\0';
    memcpy(value, area + r->value_offset, r->value_length);
    value[r->value_length] = 0;
    out->len = r->value_length;
    if (memchr(key, 0, r->key_length)) {
        KV_REACHED(CLEANUP_DOUBLE_FREE);
        KV_TRIGGERED(CLEANUP_DOUBLE_FREE);
        free(key);
        free(value);
#if !KV_BUG_CLEANUP_DOUBLE_FREE
        out->key = NULL;
        out->value = NULL;
#endif
        return kv__fail(KV_ERR_CORRUPT, "snapshot entry %u: key contains a NUL byte", i);
    }
    return KV_OK;
}

static void discard_parsed(struct parsed_entry *entries, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        free(entries[i].key);
        free(entries[i].value);
    }
    free(entries);
}

kv_status kv_snapshot_load(kv_store *store, const uint8_t *data, size_t len) {
    if (!store || (!data && len)) return kv__fail(KV_ERR_INVALID, "kv_snapshot_load: NULL argument");
    if (store->dispatching)
        return kv__fail(KV_ERR_BUSY, "kv_snapshot_load: the store cannot change inside a notification");
    struct snap_header h;
    kv_status st = read_header(data, len, &h);
    if (st) return st;
    struct parsed_entry *entries = calloc(h.count ? h.count : 1, sizeof *entries);
    if (!entries) return kv__fail(KV_ERR_NOMEM, "kv_snapshot_load: out of memory");
    const uint8_t *table = data + h.table_offset;
    const uint8_t *area = data + h.data_offset;
    for (uint32_t i = 0; i < h.count; i++) {
        struct snap_record r;
        read_record(table, i, &r);
        st = parse_record(area, &h, &r, i, &entries[i]);
        if (st) {
            discard_parsed(entries, i + 1);
            return st;
        }
    }
    for (uint32_t i = 0; i < h.count; i++) {
        /* the store takes the value; the key is copied */
        kv__insert(store, entries[i].key, strlen(entries[i].key), entries[i].value,
                   entries[i].len, entries[i].len + 1);
        entries[i].value = NULL;
    }
    discard_parsed(entries, h.count);
    return KV_OK;
}
