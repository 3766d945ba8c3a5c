/* dt.c - libdt. Planted bugs sit behind DT_BUG_<ID> switches (see ../bugs.toml). */
#include "dt.h"

#include <stdlib.h>
#include <string.h>

enum kind { DT_OBJECT, DT_ARRAY, DT_STRING };

struct dt_node {
    enum kind kind;
    char *key;          /* the name in the parent object, NULL otherwise */
    char *text;         /* a string node's text */
    dt_node *parent;
    size_t index;       /* where this node is in its parent's children */
    dt_node **children; /* cap slots, the ones past count NULL */
    size_t count, cap;
    dt_node *last;      /* the child dt_get found last: a lookup cache */
};

static char *copy_text(const char *text, size_t len) {
    char *copy = malloc(len + 1);
    if (!copy) return NULL;
    memcpy(copy, text, len);
    copy[len] = '\0';
    return copy;
}

static dt_node *new_node(enum kind kind) {
    dt_node *node = calloc(1, sizeof *node);
    if (node) node->kind = kind;
    return node;
}

dt_node *dt_new_object(void) { return new_node(DT_OBJECT); }
dt_node *dt_new_array(void) { return new_node(DT_ARRAY); }

dt_node *dt_new_string(const char *text) {
    dt_node *node = new_node(DT_STRING);
    if (node && !(node->text = copy_text(text, strlen(text)))) {
        free(node);
        return NULL;
    }
    return node;
}

void dt_free(dt_node *node) {
    if (!node) return;
    for (size_t i = 0; i < node->count; i++) dt_free(node->children[i]);
    free(node->children);
    free(node->key);
    free(node->text);
    free(node);
}

static int find(const dt_node *node, const char *key) {
    for (size_t i = 0; i < node->count; i++)
        if (strcmp(node->children[i]->key, key) == 0) return (int)i;
    return -1;
}

static int append(dt_node *parent, dt_node *child) {
    if (parent->count == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 4;
        dt_node **grown = realloc(parent->children, cap * sizeof *grown);
        if (!grown) return -1;
        memset(grown + parent->cap, 0, (cap - parent->cap) * sizeof *grown);
        parent->children = grown, parent->cap = cap;
    }
    child->parent = parent, child->index = parent->count;
    parent->children[parent->count++] = child;
    return 0;
}

int dt_add(dt_node *parent, const char *key, dt_node *child) {
    int object = parent->kind == DT_OBJECT;
    if (parent->kind == DT_STRING || (object && find(parent, key) >= 0)) {
#ifndef DT_BUG_ADD_FAIL_LEAK
        dt_free(child); /* the parent owns it even when the add fails */
#endif
        return -1;
    }
    if (object && !(child->key = copy_text(key, strlen(key)))) {
        dt_free(child);
        return -1;
    }
    if (append(parent, child) != 0) {
        dt_free(child);
        return -1;
    }
    return 0;
}

dt_node *dt_get(dt_node *node, const char *key) {
    if (node->kind != DT_OBJECT) return NULL;
    if (node->last && strcmp(node->last->key, key) == 0) return node->last;
    int i = find(node, key);
    return i < 0 ? NULL : (node->last = node->children[i]);
}

dt_node *dt_child(dt_node *node, size_t index) {
#ifdef DT_BUG_CHILD_INDEX_END
    if (!node->cap || index > node->count) return NULL; /* reads the slot at count: past a full array */
#else
    if (index >= node->count) return NULL;
#endif
    return node->children[index];
}

size_t dt_count(const dt_node *node) { return node->count; }
const char *dt_key(const dt_node *node) { return node->key ? node->key : ""; }
const char *dt_text(const dt_node *node) { return node->kind == DT_STRING ? node->text : NULL; }

int dt_set_text(dt_node *node, const char *text) {
    if (node->kind != DT_STRING) return -1;
    char *copy = copy_text(text, strlen(text));
    if (!copy) return -1;
    free(node->text);
    node->text = copy;
    return 0;
}

/* Takes the child at index out of parent's children, keeping the others in order. */
static void unlink_child(dt_node *parent, size_t index) {
    dt_node *child = parent->children[index];
    memmove(parent->children + index, parent->children + index + 1,
            (parent->count - index - 1) * sizeof *parent->children);
    parent->children[--parent->count] = NULL;
    for (size_t i = index; i < parent->count; i++) parent->children[i]->index = i;
    child->parent = NULL;
}

int dt_remove(dt_node *parent, const char *key) {
    if (parent->kind != DT_OBJECT) return -1;
    int i = find(parent, key);
    if (i < 0) return -1;
    dt_node *child = parent->children[i];
#ifndef DT_BUG_REMOVE_KEEPS_CACHE
    if (parent->last == child) parent->last = NULL;
#endif
    unlink_child(parent, (size_t)i);
    dt_free(child);
    return 0;
}

dt_node *dt_detach(dt_node *parent, dt_node *child) {
    /* like cJSON_DetachItemViaPointer: `child` is trusted to be parent's */
    if (parent->last == child) parent->last = NULL;
    unlink_child(parent, child->index);
    free(child->key);
    child->key = NULL;
    return child;
}

/* -- parsing ------------------------------------------------------------------------------ */

typedef struct { const char *at, *end; int depth; } cursor;

static void skip_space(cursor *c) {
    while (c->at < c->end && (*c->at == ' ' || *c->at == '\n' || *c->at == '\t')) c->at++;
}

static char *parse_quoted(cursor *c) {
    if (c->at >= c->end || *c->at != '"') return NULL;
    const char *start = ++c->at;
    size_t len = 0;
    for (const char *p = start; p < c->end && *p != '"'; p++, len++)
        if (*p == '\\' && ++p == c->end) return NULL;
    char *out = malloc(len + 1), *w = out;
    if (!out) return NULL;
    while (c->at < c->end && *c->at != '"') {
        if (*c->at == '\\') c->at++;
        *w++ = *c->at++;
    }
    if (c->at >= c->end) {
        free(out);
        return NULL;
    }
    c->at++;
    *w = '\0';
    return out;
}

static dt_node *parse_value(cursor *c);

static dt_node *parse_container(cursor *c, enum kind kind, char close) {
    dt_node *node = new_node(kind);
    if (!node) return NULL;
    c->at++;
    skip_space(c);
    if (c->at < c->end && *c->at == close) {
        c->at++;
        return node;
    }
    while (c->at < c->end) {
        char *key = NULL;
        if (kind == DT_OBJECT) {
            skip_space(c);
            if (!(key = parse_quoted(c))) break;
            skip_space(c);
            if (c->at >= c->end || *c->at++ != ':') {
                free(key);
                break;
            }
        }
        dt_node *child = parse_value(c);
        int added = child && dt_add(node, key ? key : "", child) == 0;
        free(key);
        if (!added) break;
        skip_space(c);
        if (c->at < c->end && *c->at == ',') {
            c->at++;
            continue;
        }
        if (c->at < c->end && *c->at == close) {
            c->at++;
            return node;
        }
        break;
    }
    dt_free(node);
    return NULL;
}

static dt_node *parse_value(cursor *c) {
    skip_space(c);
    if (c->at >= c->end || c->depth >= 32) return NULL;
    c->depth++;
    dt_node *node = NULL;
    if (*c->at == '{') node = parse_container(c, DT_OBJECT, '}');
    else if (*c->at == '[') node = parse_container(c, DT_ARRAY, ']');
    else if (*c->at == '"') {
        char *text = parse_quoted(c);
        if (text && (node = new_node(DT_STRING))) node->text = text;
        else free(text);
    }
    c->depth--;
    return node;
}

dt_node *dt_parse(const char *text, size_t len) {
    cursor c = {text, text + len, 0};
    dt_node *node = parse_value(&c);
    skip_space(&c);
    if (node && c.at != c.end) {
        dt_free(node);
        return NULL;
    }
    return node;
}

/* -- rendering ---------------------------------------------------------------------------- */

static size_t quoted_size(const char *s) {
    size_t n = 2;
    for (; *s; s++) {
#ifdef DT_BUG_RENDER_ESCAPE_SHORT
        n += 1; /* the escape's backslash is not counted */
#else
        n += (*s == '"' || *s == '\\') ? 2 : 1;
#endif
    }
    return n;
}

static size_t measure(const dt_node *node) {
    if (node->kind == DT_STRING) return quoted_size(node->text);
    size_t n = 2 + (node->count ? node->count - 1 : 0); /* brackets and commas */
    for (size_t i = 0; i < node->count; i++) {
        const dt_node *child = node->children[i];
        if (node->kind == DT_OBJECT) n += quoted_size(child->key) + 1;
        n += measure(child);
    }
    return n;
}

static char *put_quoted(char *w, const char *s) {
    *w++ = '"';
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') *w++ = '\\';
        *w++ = *s;
    }
    *w++ = '"';
    return w;
}

static char *put_node(char *w, const dt_node *node) {
    if (node->kind == DT_STRING) return put_quoted(w, node->text);
    *w++ = node->kind == DT_OBJECT ? '{' : '[';
    for (size_t i = 0; i < node->count; i++) {
        if (i) *w++ = ',';
        if (node->kind == DT_OBJECT) {
            w = put_quoted(w, node->children[i]->key);
            *w++ = ':';
        }
        w = put_node(w, node->children[i]);
    }
    *w++ = node->kind == DT_OBJECT ? '}' : ']';
    return w;
}

char *dt_render(const dt_node *node, size_t *len) {
    size_t size = measure(node);
    char *out = malloc(size + 1);
    if (!out) return NULL;
    char *end = put_node(out, node);
    *end = '\0';
    if (len) *len = (size_t)(end - out);
    return out;
}

void dt_text_free(char *text) { free(text); }

size_t dt_size(const dt_node *node) {
    size_t n = 1;
    for (size_t i = 0; i < node->count; i++) n += dt_size(node->children[i]);
    return n;
}
