/* Native libFuzzer harness for the records surface: the C calls fuzzers/fuzz_records.py makes
 * (load an untrusted snapshot into a store, walk it, save it, load the save back), without
 * the Python comparisons. The physical limit for bench/overhead.py. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"

static size_t walk(kv_store *store) {
    kv_cursor *cursor = kv_cursor_open(store);
    const char *key;
    const uint8_t *value;
    size_t len, n = 0;
    while (kv_cursor_next(cursor, &key, &value, &len) == 0) n += strlen(key) + len;
    kv_cursor_close(cursor);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kv_store *store = kv_open(0);
    kv_put(store, "existing", (const uint8_t *)"value", 5);
    uint8_t *exact = malloc(size ? size : 1);
    memcpy(exact, data, size);
    if (kv_snapshot_load(store, exact, size) == 0) {
        walk(store);
        uint8_t *out;
        size_t out_len;
        if (kv_snapshot_save(store, &out, &out_len) == 0) {
            kv_store *again = kv_open(0);
            kv_snapshot_load(again, out, out_len);
            walk(again);
            kv_free(out);
            kv_close(again);
        }
    } else {
        walk(store);
    }
    free(exact);
    kv_close(store);
    return 0;
}
