/* cfg.c - libcfg. Planted bugs sit behind CFG_BUG_<ID> switches (see ../bugs.toml). */
#include "cfg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *section, *key, *value;
    char *unquoted; /* cache of value without its quotes, for cfg_get */
} entry;

typedef struct {
    int id;
    cfg_watch_fn fn;
    cfg_release_fn release;
    void *user_data;
} watch;

struct cfg_doc {
    entry *entries;
    size_t count, cap;
    watch *watches;
    size_t n_watches, cap_watches;
    int next_id;
    char *comment;
    char *last_dump;
    char scratch[256];
};

static char *copy_n(const char *s, size_t n) {
    char *out = malloc(n + 1);
    if (!out) return NULL;
    memcpy(out, s, n);
    out[n] = 0;
    return out;
}

cfg_doc *cfg_new(void) {
    cfg_doc *doc = calloc(1, sizeof *doc);
    if (doc) doc->next_id = 1;
    return doc;
}

static entry *find(const cfg_doc *doc, const char *section, const char *key) {
    for (size_t i = 0; i < doc->count; i++)
        if (!strcmp(doc->entries[i].section, section) && !strcmp(doc->entries[i].key, key))
            return &doc->entries[i];
    return NULL;
}

static void notify(cfg_doc *doc, const char *section, const char *key, const char *value) {
    for (size_t i = 0; i < doc->n_watches; i++)
        doc->watches[i].fn(doc->watches[i].user_data, section, key, value);
}

static void free_entry(entry *e) {
    free(e->section);
    free(e->key);
    free(e->value);
    free(e->unquoted);
}

int cfg_set(cfg_doc *doc, const char *section, const char *key, const char *value) {
    if (!doc || !section || !key || !value) return -1;
    size_t len = strlen(value);
    char *copy = malloc(len + 1);
    if (!copy) return -1;
    memcpy(copy, value, len + 1);
    entry *e = find(doc, section, key);
    if (e) {
        char *old = e->value;
#ifdef CFG_BUG_SET_SAME_VALUE_LEAK
        if (!strcmp(old, copy)) { /* unchanged: keep the old copy (and lose the new one) */
            return 0;
        }
#endif
        e->value = copy;
        free(e->unquoted);
        e->unquoted = NULL;
        free(old);
#ifdef CFG_BUG_NOTIFY_AFTER_FREE
        if (doc->n_watches && !strcmp(old, copy)) return 0; /* reads the freed value */
#endif
        notify(doc, section, key, copy);
        return 0;
    }
    if (doc->count == doc->cap) {
        size_t cap = doc->cap ? doc->cap * 2 : 4;
        entry *grown = realloc(doc->entries, cap * sizeof *grown);
        if (!grown) { free(copy); return -1; }
        doc->entries = grown;
        doc->cap = cap;
    }
    e = &doc->entries[doc->count];
    e->section = copy_n(section, strlen(section));
    e->key = copy_n(key, strlen(key));
    e->value = copy;
    e->unquoted = NULL;
    if (!e->section || !e->key) { free_entry(e); return -1; }
    doc->count++;
    notify(doc, section, key, copy);
    return 0;
}

const char *cfg_get(const cfg_doc *doc, const char *section, const char *key) {
    if (!doc || !section || !key) return NULL;
    entry *e = find(doc, section, key);
    if (!e) return NULL;
    size_t len = strlen(e->value);
#ifdef CFG_BUG_GET_SHARED_BUFFER
    if (len < 16) { /* "small value" fast path through one scratch buffer per document */
        cfg_doc *mutable = (cfg_doc *)doc;
        memcpy(mutable->scratch, e->value, len + 1);
        return mutable->scratch;
    }
#endif
    if (len < 2 || e->value[0] != '"' || e->value[len - 1] != '"') return e->value;
    if (!e->unquoted) e->unquoted = copy_n(e->value + 1, len - 2);
    return e->unquoted;
}

int cfg_remove(cfg_doc *doc, const char *section, const char *key) {
    if (!doc || !section || !key) return -1;
    entry *e = find(doc, section, key);
    if (!e) return -1;
    free_entry(e);
    *e = doc->entries[--doc->count];
    notify(doc, section, key, NULL);
    return 0;
}

size_t cfg_count(const cfg_doc *doc) { return doc ? doc->count : 0; }

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

static size_t trim(const char *s, size_t start, size_t *end) {
    while (start < *end && is_space(s[start])) start++;
    while (*end > start && is_space(s[*end - 1])) (*end)--;
    return start;
}

cfg_doc *cfg_parse(const char *text, size_t len) {
    if (!text && len) return NULL;
    cfg_doc *doc = cfg_new();
    if (!doc) return NULL;
    char *section = copy_n("", 0);
    size_t i = 0;
    while (i < len && section) {
        size_t start = i;
        while (i < len && text[i] != '\n') i++;
        size_t end = i;
        i++; /* past the newline */
        start = trim(text, start, &end);
        if (start == end || text[start] == ';' || text[start] == '#') continue;
        if (text[start] == '[') {
            if (text[end - 1] != ']' || end - start < 2) goto fail;
            free(section);
            section = copy_n(text + start + 1, end - start - 2);
            continue;
        }
        size_t eq = start;
        while (eq < end && text[eq] != '=') eq++;
        if (eq == end) goto fail;
        size_t key_end = eq;
        size_t key_start = trim(text, start, &key_end);
        size_t value_end = end;
        size_t value_start = trim(text, eq + 1, &value_end);
        if (value_start < value_end && text[value_start] == '"') {
            /* a quoted value may span lines: it ends at the closing quote */
            size_t q = value_start + 1;
#ifdef CFG_BUG_PARSE_UNTERMINATED_QUOTE
            while (q <= len && text[q] != '"') q++;
#else
            while (q < len && text[q] != '"') q++;
#endif
            if (q >= len) goto fail;
            value_end = q + 1;
            if (value_end > end) {
                i = value_end;
                while (i < len && text[i] != '\n') i++;
                i++;
            }
        }
        char *key = copy_n(text + key_start, key_end - key_start);
        char *value = copy_n(text + value_start, value_end - value_start);
        int bad = !key || !value || memchr(value, 0, value_end - value_start) || memchr(key, 0, key_end - key_start)
                  || cfg_set(doc, section, key, value) != 0;
        free(key);
        free(value);
        if (bad) goto fail;
    }
    if (!section) goto fail;
    free(section);
    return doc;
fail:
    free(section);
    cfg_free(doc);
    return NULL;
}

static void end_watch(watch *w) {
    if (w->release) w->release(w->user_data);
}

void cfg_free(cfg_doc *doc) {
    if (!doc) return;
#ifdef CFG_BUG_FREE_SKIPS_RELEASE
    size_t first = doc->n_watches > 1 ? 1 : 0; /* off by one once there are several */
#else
    size_t first = 0;
#endif
    for (size_t i = first; i < doc->n_watches; i++) end_watch(&doc->watches[i]);
    for (size_t i = 0; i < doc->count; i++) free_entry(&doc->entries[i]);
    free(doc->entries);
    free(doc->watches);
    free(doc->comment);
#ifndef CFG_BUG_DUMP_CACHE_DOUBLE_FREE
    free(doc->last_dump);
#endif
    free(doc);
}

size_t cfg_escape(const char *in, char *out, size_t cap) {
    size_t n = 0;
    if (!in) return 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        char buf[4];
        size_t k = 0;
        if (*p == '"' || *p == '\\') { buf[k++] = '\\'; buf[k++] = (char)*p; }
        else if (*p < 0x20) { buf[k++] = '\\'; buf[k++] = 'x'; buf[k++] = "0123456789abcdef"[*p >> 4];
                              buf[k++] = "0123456789abcdef"[*p & 15]; }
        else buf[k++] = (char)*p;
        for (size_t j = 0; j < k; j++, n++)
            if (out && n + 1 < cap) out[n] = buf[j];
    }
    if (out && cap) {
#ifdef CFG_BUG_ESCAPE_TRUNCATED_NUL
        out[n < cap ? n : cap] = 0; /* cap itself is one past the end */
#else
        out[n < cap ? n : cap - 1] = 0;
#endif
    }
    return n;
}

char *cfg_dump(const cfg_doc *doc, size_t *out_len) {
    if (!doc) return NULL;
    size_t total = 1;
    for (size_t i = 0; i < doc->count; i++)
        total += strlen(doc->entries[i].section) + strlen(doc->entries[i].key) + strlen(doc->entries[i].value) + 8;
    char *text = malloc(total);
    if (!text) return NULL;
    size_t n = 0;
    for (size_t i = 0; i < doc->count; i++) {
        const entry *e = &doc->entries[i];
        size_t a = strlen(e->section), b = strlen(e->key), c = strlen(e->value);
        text[n++] = '[';
        memcpy(text + n, e->section, a); n += a;
        text[n++] = ']'; text[n++] = '\n';
        memcpy(text + n, e->key, b); n += b;
        memcpy(text + n, " = ", 3); n += 3;
        memcpy(text + n, e->value, c); n += c;
        text[n++] = '\n';
    }
    text[n] = 0;
    if (out_len) *out_len = n;
    cfg_doc *mutable = (cfg_doc *)doc;
#ifdef CFG_BUG_DUMP_CACHE_DOUBLE_FREE
    /* "cache" of the last dump, though the caller owns (and frees) what it was given */
    if (doc->count) {
        free(mutable->last_dump);
        mutable->last_dump = text;
    }
#else
    (void)mutable;
#endif
    return text;
}

void cfg_string_free(char *text) { free(text); }

int cfg_set_comment(cfg_doc *doc, char *comment) {
    if (!doc) return -1;
    free(doc->comment);
    doc->comment = comment;
    return 0;
}

const char *cfg_comment(const cfg_doc *doc) { return doc ? doc->comment : NULL; }

int cfg_watch(cfg_doc *doc, cfg_watch_fn fn, cfg_release_fn release, void *user_data) {
    if (!doc || !fn) return -1;
    if (doc->n_watches == doc->cap_watches) {
        size_t cap = doc->cap_watches ? doc->cap_watches * 2 : 2;
        watch *grown = realloc(doc->watches, cap * sizeof *grown);
        if (!grown) return -1;
        doc->watches = grown;
        doc->cap_watches = cap;
    }
    watch *w = &doc->watches[doc->n_watches++];
    w->id = doc->next_id++;
    w->fn = fn;
    w->release = release;
    w->user_data = user_data;
    return w->id;
}

int cfg_unwatch(cfg_doc *doc, int id) {
    if (!doc) return -1;
    for (size_t i = 0; i < doc->n_watches; i++) {
        if (doc->watches[i].id != id) continue;
        watch gone = doc->watches[i];
#ifdef CFG_BUG_UNWATCH_KEEPS_LAST
        if (i + 1 < doc->n_watches || doc->n_watches == 1) /* the last of several stays */
#endif
        {
            doc->watches[i] = doc->watches[doc->n_watches - 1];
            doc->n_watches--;
        }
        end_watch(&gone);
        return 0;
    }
    return -1;
}
