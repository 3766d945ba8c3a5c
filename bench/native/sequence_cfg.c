/* Native libFuzzer sequence driver for libcfg (tests/targets/cfgdoc): the kind of calls the
 * generic `sequence` fuzzer makes from cfg.toml, with the same contract honoured by hand -
 * every document freed once, dump results freed with cfg_string_free, comments handed over
 * as malloc'd strings, user_data alive until its watch is released, strings and buffers in
 * exact-size heap blocks, byte strings given or read before reused. The anchor of
 * bench/overhead.py --configs sequence. */
#include "sequence_input.h"
#include "cfg.h"

#define MAX_DOCS 8
#define MAX_WATCHES 32

static cfg_doc *docs[MAX_DOCS];
static unsigned ndocs;
static struct { cfg_doc *doc; int id; char *token; int released, ended; } watches[MAX_WATCHES];
static unsigned nwatches;
static volatile size_t sink;

static void on_change(void *user_data, const char *section, const char *key, const char *value) {
    sink += (size_t)user_data + strlen(section) + strlen(key) + (value ? strlen(value) : 0);
}

static void on_release(void *user_data) {
    for (unsigned i = 0; i < nwatches; i++)
        if (watches[i].token == user_data) watches[i].released++;
}

static cfg_doc *new_doc(Input *in) {
    if (ndocs == MAX_DOCS) return docs[pick(in, ndocs)];
    cfg_doc *doc;
    if (pick(in, 2)) {
        doc = cfg_new();
    } else {
        size_t len;
        char *t = text(in, &len);
        doc = cfg_parse(t, len);
        free(t);
    }
    if (doc) docs[ndocs++] = doc;
    return doc;
}

static cfg_doc *some_doc(Input *in) { return ndocs ? docs[pick(in, ndocs)] : new_doc(in); }

static void free_doc(unsigned i) {
    for (unsigned w = 0; w < nwatches; w++)
        if (watches[w].doc == docs[i]) watches[w].ended = 1;
    cfg_free(docs[i]);
    docs[i] = docs[--ndocs];
}

static void step(Input *in) {
    cfg_doc *doc;
    char *a, *b, *c;
    size_t len;
    switch (pick(in, 13)) {
    case 0: new_doc(in); break;
    case 1: if (ndocs) free_doc(pick(in, ndocs)); break;
    case 2:
        if (!(doc = some_doc(in))) break;
        a = text(in, NULL), b = text(in, NULL), c = text(in, NULL);
        cfg_set(doc, a, b, c);
        free(a), free(b), free(c);
        break;
    case 3: {
        if (!(doc = some_doc(in))) break;
        a = text(in, NULL), b = text(in, NULL);
        const char *v = cfg_get(doc, a, b);
        if (v) remember(v, strlen(v));
        free(a), free(b);
        break;
    }
    case 4:
        if (!(doc = some_doc(in))) break;
        a = text(in, NULL), b = text(in, NULL);
        cfg_remove(doc, a, b);
        free(a), free(b);
        break;
    case 5: if ((doc = some_doc(in))) sink += cfg_count(doc); break;
    case 6: {
        if (!(doc = some_doc(in))) break;
        char *dump = cfg_dump(doc, &len);
        if (dump) { remember(dump, len); cfg_string_free(dump); }
        break;
    }
    case 7: {
        static const size_t caps[] = {0, 1, 2, 8};
        size_t cap = pick(in, 2) ? caps[pick(in, 4)] : pick(in, 257);
        a = text(in, NULL);
        char *out = malloc(cap ? cap : 1);
        sink += cfg_escape(a, cap ? out : out, cap);
        free(out), free(a);
        break;
    }
    case 8:
        if (!(doc = some_doc(in))) break;
        cfg_set_comment(doc, pick(in, 16) ? text(in, NULL) : NULL);
        break;
    case 9: {
        if (!(doc = some_doc(in))) break;
        const char *comment = cfg_comment(doc);
        if (comment) remember(comment, strlen(comment));
        break;
    }
    case 10: {
        if (!(doc = some_doc(in)) || nwatches == MAX_WATCHES) break;
        char *token = malloc(1);
        int id = cfg_watch(doc, on_change, pick(in, 8) ? on_release : NULL, token);
        watches[nwatches].doc = doc, watches[nwatches].id = id, watches[nwatches].token = token;
        watches[nwatches].released = watches[nwatches].ended = 0;
        nwatches++;
        break;
    }
    case 11: {
        if (!(doc = some_doc(in))) break;
        unsigned live[MAX_WATCHES], n = 0;
        for (unsigned w = 0; w < nwatches; w++)
            if (watches[w].doc == doc && !watches[w].ended && watches[w].id > 0) live[n++] = w;
        if (n && pick(in, 8)) {
            unsigned w = live[pick(in, n)];
            if (cfg_unwatch(doc, watches[w].id) == 0) watches[w].ended = 1;
        } else {
            cfg_unwatch(doc, (int)pick(in, 17));
        }
        break;
    }
    case 12: /* a second document from text, as the driver's constructors do */
        new_doc(in);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Input in = {data, size};
    sequence_begin();
    for (unsigned i = 0; i < MAX_STEPS && in.size; i++) step(&in);
    while (ndocs) free_doc(ndocs - 1);
    for (unsigned w = 0; w < nwatches; w++) free(watches[w].token);
    nwatches = 0;
    return 0;
}
