/* shapes.c - see shapes.h. */
#include "shapes.h"

#include <stdlib.h>
#include <string.h>

struct shp_node {
    char *name;
    shp_node **children;
    int count;
    const char *label;  /* the caller's string, not a copy (shp_node_set_label) */
    uint32_t checksum;  /* of the bytes fed (shp_node_feed) */
};

size_t shp_fill_counts(size_t *counts, size_t n) {
    size_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        counts[i] = i * 3 + 1;
        sum += counts[i];
    }
    return sum;
}

int shp_fill_points(shp_point *points, int n) {
    if (n < 0) return -1;
    for (int i = 0; i < n; i++) {
        points[i].x = i;
        points[i].y = -i;
        points[i].weight = i / 2.0;
    }
    return n;
}

shp_node *shp_node_new(const char *name) {
    if (!name) return NULL;
    shp_node *node = calloc(1, sizeof *node);
    if (!node) return NULL;
    node->name = strdup(name);
    if (!node->name) {
        free(node);
        return NULL;
    }
    return node;
}

void shp_node_free(shp_node *node) {
    if (!node) return;
    for (int i = 0; i < node->count; i++) shp_node_free(node->children[i]);
    free(node->children);
    free(node->name);
    free(node);
}

int shp_node_add(shp_node *parent, shp_node *child) {
    if (!parent || !child) {
        shp_node_free(child);
        return -1;
    }
    shp_node **grown = realloc(parent->children, (size_t)(parent->count + 1) * sizeof *grown);
    if (!grown) {
        shp_node_free(child);
        return -1;
    }
    parent->children = grown;
    parent->children[parent->count++] = child;
    return parent->count;
}

const char *shp_node_child_name(const shp_node *node, int index) {
    if (!node || index < 0 || index >= node->count) return NULL;
    return node->children[index]->name;
}

static int each(shp_node *node, shp_metric_fn fn, void *user_data, int depth) {
    int calls = 1;
    fn(user_data, node->name, INT64_MAX >> (depth < 62 ? depth : 62));
    for (int i = 0; i < node->count; i++) calls += each(node->children[i], fn, user_data, depth + 1);
    return calls;
}

int shp_each_metric(shp_node *node, shp_metric_fn fn, void *user_data) {
    if (!node || !fn) return -1;
    return each(node, fn, user_data, 0);
}

static const double level_costs[SHP_LEVELS] = {1.0, 1.5, 2.25, 3.4, 5.1, 7.6, 11.4, 17.1, 25.6};

double shp_level_cost(int level) {
    return level_costs[level - 1];  /* 1..SHP_LEVELS, as the header says */
}

int shp_node_set_label(shp_node *node, const char *label) {
    if (!node) return -1;
    node->label = label;  /* kept, not copied: the header says so */
    return 0;
}

size_t shp_node_label_length(const shp_node *node) {
    return node && node->label ? strlen(node->label) : 0;
}

int shp_node_copy_name(const shp_node *node, char *out, size_t *size) {
    if (!node || !size) return -1;
    size_t needed = strlen(node->name) + 1, cap = *size;
    if (cap) {
        size_t n = needed < cap ? needed : cap;
        memcpy(out, node->name, n - 1);
        out[n - 1] = 0;
    }
    *size = needed;
    return needed <= cap ? 0 : 1;
}

int shp_node_open(shp_node **out, const char *name) {
    if (!out || !name) return -1;
    shp_node *node = shp_node_new(name);
    if (!node) return -1;
    *out = node;
    return 0;
}

shp_weight shp_weight_scale(shp_weight weight, shp_weight factor) {
    int64_t product = (int64_t)weight * factor;
    return product > INT32_MAX ? INT32_MAX : product < INT32_MIN ? INT32_MIN : (shp_weight)product;
}

uint32_t shp_node_feed(shp_node *node, const uint8_t *data, size_t *size) {
    if (!node || !size) return 0;
    uint32_t sum = node->checksum;
    for (size_t i = 0; i < *size; i++) sum = sum * 31 + data[i];  /* every byte it was told of */
    size_t consumed = *size < 8 ? *size : 8;
    for (size_t i = 0; i < consumed; i++) node->checksum = node->checksum * 31 + data[i];
    *size = consumed;
    return sum;
}

int shp_node_render_length(const shp_node *node, const shp_style *style) {
    if (!node) return -1;
    int indent = style ? style->indent : 2;
    const char *bullet = style ? style->bullet : "-";
    return indent + (int)strlen(bullet) + 1 + (int)strlen(node->name);
}
