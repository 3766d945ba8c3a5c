/* Native libFuzzer sequence driver for libdt (tests/targets/doctree): the calls the generic
 * `sequence` fuzzer makes from dt.toml, the contract kept by hand - detached nodes owned and
 * freed once, a node handed to dt_add never used again (and never one the parent is inside),
 * children borrowed from their parent until it is freed or a child of it is removed or
 * detached, dt_detach given a child of its parent, renders freed with dt_text_free. The anchor
 * of bench/overhead.py --configs sequence and bench/time_to_find.py. */
#include "sequence_input.h"
#include "dt.h"

#define MAX_HANDLES 64

/* owner: the handle a borrowed node came from (-1 for an owned one); dead once ended */
static struct { dt_node *node; int owner, borrowed, dead; } handles[MAX_HANDLES];
static unsigned nhandles;
static size_t ints[8];
static unsigned nints;
static volatile size_t sink;

static int add_handle(dt_node *node, int owner) {
    if (!node || nhandles == MAX_HANDLES) return -1;
    handles[nhandles] = (typeof(handles[0])){node, owner, owner >= 0, 0};
    return (int)nhandles++;
}

static int within(int h, int ancestor) {
    for (; h >= 0; h = handles[h].owner)
        if (h == ancestor) return 1;
    return 0;
}

/* End handle `gone` and every handle borrowed from it, at any depth. */
static void end_within(int gone) {
    for (unsigned h = 0; h < nhandles; h++)
        if (!handles[h].dead && within((int)h, gone)) handles[h].dead = 1;
}

/* End what node `parent` lent, through any handle of it: its children may have been removed
 * or detached. */
static void end_children_of(int parent) {
    for (unsigned h = 0; h < nhandles; h++)
        if (!handles[h].dead && handles[h].borrowed && handles[handles[h].owner].node == handles[parent].node)
            end_within((int)h);
}

/* A live handle (owned_only: one the driver owns), -1 when there is none. */
static int some(Input *in, int owned_only) {
    int live[MAX_HANDLES], n = 0;
    for (unsigned h = 0; h < nhandles; h++)
        if (!handles[h].dead && (!owned_only || !handles[h].borrowed)) live[n++] = (int)h;
    return n ? live[pick(in, (unsigned)n)] : -1;
}

static int new_node(Input *in) {
    size_t len;
    char *t;
    dt_node *node = NULL;
    switch (pick(in, 4)) {
    case 0: node = dt_new_object(); break;
    case 1: node = dt_new_array(); break;
    case 2: t = text(in, NULL), node = dt_new_string(t), free(t); break;
    case 3: t = (char *)bytes(in, &len, 0), node = dt_parse(t, len), free(t); break;
    }
    return add_handle(node, -1);
}

static int any_node(Input *in) {
    int h = some(in, 0);
    return h >= 0 ? h : new_node(in);
}

static void keep_int(size_t v) { ints[nints++ % 8] = v; }

static size_t index_int(Input *in) {
    if (nints && pick(in, 2)) return ints[pick(in, nints < 8 ? nints : 8)];
    return (size_t)edge_int(in, INT64_MIN, INT64_MAX);
}

static void step(Input *in) {
    int p, c;
    char *t;
    const char *s;
    switch (pick(in, 16)) {
    case 0: case 1: case 2: case 3: new_node(in); break;
    case 4:
        if ((p = some(in, 1)) >= 0) dt_free(handles[p].node), end_within(p);
        break;
    case 5: {  /* the child: owned, and not a node the parent is inside */
        if ((p = any_node(in)) < 0) break;
        t = text(in, NULL);
        int owned[MAX_HANDLES], n = 0;
        for (unsigned h = 0; h < nhandles; h++)
            if (!handles[h].dead && !handles[h].borrowed && !within(p, (int)h)) owned[n++] = (int)h;
        if (!n && (c = new_node(in)) >= 0 && !within(p, c)) owned[n++] = c;
        if (n) {
            c = owned[pick(in, (unsigned)n)];
            keep_int((size_t)dt_add(handles[p].node, t, handles[c].node));
            end_within(c);
        }
        free(t);
        break;
    }
    case 6:
        if ((p = any_node(in)) < 0) break;
        t = text(in, NULL);
        add_handle(dt_get(handles[p].node, t), p);
        free(t);
        break;
    case 7: if ((p = any_node(in)) >= 0) add_handle(dt_child(handles[p].node, index_int(in)), p); break;
    case 8: if ((p = any_node(in)) >= 0) keep_int(dt_count(handles[p].node)); break;
    case 9: if ((p = any_node(in)) >= 0 && (s = dt_key(handles[p].node))) remember(s, strlen(s)); break;
    case 10: if ((p = any_node(in)) >= 0 && (s = dt_text(handles[p].node))) remember(s, strlen(s)); break;
    case 11:
        if ((p = any_node(in)) < 0) break;
        t = text(in, NULL);
        keep_int((size_t)dt_set_text(handles[p].node, t));
        free(t);
        break;
    case 12:
        if ((p = any_node(in)) < 0) break;
        t = text(in, NULL);
        keep_int((size_t)dt_remove(handles[p].node, t));
        end_children_of(p);
        free(t);
        break;
    case 13: {  /* a borrowed child and the node it came from */
        int borrowed[MAX_HANDLES], n = 0;
        for (unsigned h = 0; h < nhandles; h++)
            if (!handles[h].dead && handles[h].borrowed) borrowed[n++] = (int)h;
        if (!n) break;
        c = borrowed[pick(in, (unsigned)n)], p = handles[c].owner;
        dt_node *detached = dt_detach(handles[p].node, handles[c].node);
        end_children_of(p);
        add_handle(detached, -1);
        break;
    }
    case 14: {
        if ((p = any_node(in)) < 0) break;
        size_t len;
        char *r = dt_render(handles[p].node, &len);
        if (r) remember(r, len), dt_text_free(r);
        break;
    }
    case 15: if ((p = any_node(in)) >= 0) keep_int(dt_size(handles[p].node)); break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Input in = {data, size};
    sequence_begin();
    nhandles = nints = 0;
    for (unsigned i = 0; i < MAX_STEPS && in.size; i++) step(&in);
    for (int h = (int)nhandles - 1; h >= 0; h--)
        if (!handles[h].dead && !handles[h].borrowed) dt_free(handles[h].node), end_within(h);
    return 0;
}
