/* Native libFuzzer harness for the strings surface: the C calls fuzzers/fuzz_strings.py makes
 * (same operations, same input decoding shape), without the Python model checks. It is the
 * physical limit the Python harness's exec/s is compared against (bench/overhead.py). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"

typedef struct { const uint8_t *data; size_t left; } reader;

static unsigned take_int(reader *r, unsigned low, unsigned high) {
    unsigned value = 0;
    if (r->left) { value = r->data[--r->left]; }  /* integers from the end, like FuzzedDataProvider */
    return low + value % (high - low + 1);
}

static size_t take_bytes(reader *r, uint8_t *out, size_t want) {
    size_t n = want < r->left ? want : r->left;
    memcpy(out, r->data, n);
    r->data += n;
    r->left -= n;
    return n;
}

static void take_key(reader *r, char *key) {
    static const char *pool[] = {"k", "key", "a-longer-key-name", "cl\xc3\xa9"};
    if (take_int(r, 0, 1)) { strcpy(key, pool[take_int(r, 0, 3)]); return; }
    size_t n = take_bytes(r, (uint8_t *)key, take_int(r, 1, 40));
    for (size_t i = 0; i < n; i++) if (!key[i]) key[i] = '_';
    if (!n) key[n++] = '_';
    key[n] = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    reader r = {data, size};
    kv_store *store = kv_open(0);
    char key[64];
    uint8_t value[64], *out;
    size_t len, out_len;
    unsigned ops = take_int(&r, 1, 12);
    for (unsigned i = 0; i < ops; i++) {
        unsigned op = take_int(&r, 0, 8);
        take_key(&r, key);
        switch (op) {
        case 0: len = take_bytes(&r, value, take_int(&r, 0, 63)); kv_put(store, key, value, len); break;
        case 1: {
            size_t key_len = strlen(key);
            char *exact = malloc(key_len);
            memcpy(exact, key, key_len);
            len = take_bytes(&r, value, take_int(&r, 0, 63));
            kv_putn(store, exact, key_len, value, len);
            free(exact);
            break;
        }
        case 2: {
            len = take_bytes(&r, value, take_int(&r, 0, 63));
            uint8_t *owned = len ? malloc(len) : NULL;
            if (len) memcpy(owned, value, len);
            kv_put_owned(store, key, owned, len);
            break;
        }
        case 3: if (kv_get_copy(store, key, &out, &out_len) == 0) kv_free(out); break;
        case 4: { char *text = kv_get_cstr(store, key); kv_free(text); break; }
        case 5: { char *text = kv_get_utf8_lossy(store, key, &out_len); kv_free(text); break; }
        case 6: {
            size_t cap = take_int(&r, 0, 80), needed;
            char *buf = cap ? malloc(cap) : NULL;
            kv_copy_value(store, key, buf, cap, &needed);
            free(buf);
            break;
        }
        case 7: { const uint8_t *view = kv_get_borrowed(store, key, &out_len); (void)view; break; }
        default: kv_delete(store, key); break;
        }
    }
    kv_close(store);
    return 0;
}
