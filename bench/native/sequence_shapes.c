/* Native libFuzzer sequence driver for tests/targets/shapes: the calls the generic `sequence`
 * fuzzer makes from shapes.toml, the contract kept by hand (out buffers counted in elements,
 * a child handed over to its parent, borrowed names read while valid, the metric callback
 * reading what it is given, every node freed once). Anchor of bench/overhead.py. */
#include "sequence_input.h"
#include "shapes.h"

#define MAX_NODES 8

static shp_node *nodes[MAX_NODES];
static unsigned nnodes;
static volatile size_t sink;

static void on_metric(void *user_data, const char *key, int64_t value) {
    sink += (size_t)user_data + strlen(key) + (size_t)value;
}

static shp_node *new_node(Input *in) {
    if (nnodes == MAX_NODES) return nodes[pick(in, nnodes)];
    char *name = text(in, NULL);
    shp_node *node = shp_node_new(name);
    free(name);
    if (node) nodes[nnodes++] = node;
    return node;
}

static shp_node *some_node(Input *in) { return nnodes ? nodes[pick(in, nnodes)] : new_node(in); }

static void step(Input *in) {
    shp_node *node;
    switch (pick(in, 8)) {
    case 0: {
        size_t n = (size_t)edge_int(in, 0, 256);
        size_t *counts = malloc((n ? n : 1) * sizeof *counts);
        sink += shp_fill_counts(counts, n);
        free(counts);
        break;
    }
    case 1: {
        int n = (int)edge_int(in, -1, 256);
        shp_point *points = malloc((n > 0 ? (size_t)n : 1) * sizeof *points);
        sink += (size_t)shp_fill_points(points, n);
        free(points);
        break;
    }
    case 2: new_node(in); break;
    case 3:
        if (nnodes) {
            unsigned i = pick(in, nnodes);
            shp_node_free(nodes[i]);
            nodes[i] = nodes[--nnodes];
        }
        break;
    case 4: {  /* the child is the parent's from now on */
        while (nnodes < 2 && new_node(in)) {}
        if (nnodes < 2) break;
        unsigned p = pick(in, nnodes), c = pick(in, nnodes - 1);
        if (c >= p) c++;
        sink += (size_t)shp_node_add(nodes[p], nodes[c]);  /* taken even when it fails (then freed) */
        nodes[c] = nodes[--nnodes];
        break;
    }
    case 5: {
        if (!(node = some_node(in))) break;
        const char *name = shp_node_child_name(node, (int)edge_int(in, -1, 16));
        if (name) remember(name, strlen(name));
        break;
    }
    case 6:
        if ((node = some_node(in))) sink += (size_t)shp_each_metric(node, on_metric, &sink);
        break;
    case 7: sink += (size_t)shp_level_cost(1 + (int)pick(in, SHP_LEVELS)); break;  /* ranges: 1..9 */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Input in = {data, size};
    sequence_begin();
    for (unsigned i = 0; i < MAX_STEPS && in.size; i++) step(&in);
    while (nnodes) shp_node_free(nodes[--nnodes]);
    return 0;
}
