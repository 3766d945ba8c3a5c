/* shapes.h - API shapes the generic driver must honour exactly (a test library of ffi-harness).
 *
 * Out-arrays measured in elements, a callback passing a C string followed by a 64-bit number,
 * a tree whose nodes are handed to their parent, an integer valid only in a range (the
 * caller's to check, as with many speed or level knobs), a string the library keeps using
 * after the call (as a stream keeps its dictionary), sizes passed in and out through one
 * pointer (as zlib's uncompress takes destLen, lz4's LZ4F_decompress its srcSizePtr), a
 * constructor handing its handle back through a pointer, an integer typedef and a struct of
 * options whose NULL is the default. A correct driver finds nothing here.
 */
#ifndef SHAPES_H
#define SHAPES_H

#include <stddef.h>
#include <stdint.h>

typedef struct shp_point {
    int32_t x;
    int32_t y;
    double weight;
} shp_point;

typedef struct shp_node shp_node;

/* Called with the node's name (a C string, borrowed for the call) and a 64-bit value. */
typedef void (*shp_metric_fn)(void *user_data, const char *key, int64_t value);

/* Writes counts[0..n-1] (n size_t values); returns their sum. */
size_t shp_fill_counts(size_t *counts, size_t n);

/* Writes points[0..n-1]; returns n, or -1 when n < 0. */
int shp_fill_points(shp_point *points, int n);

/* A new node named name (copied); NULL when name is NULL. Freed with shp_node_free. */
shp_node *shp_node_new(const char *name);

/* Frees node and every child handed to it. */
void shp_node_free(shp_node *node);

/* [takes child] child now belongs to parent (freed with it), even when this fails.
 * child must not be parent itself or one of its ancestors. Returns the number of children. */
int shp_node_add(shp_node *parent, shp_node *child);

/* [borrowed from node, until node is freed or given children] The name of child number index,
 * or NULL. */
const char *shp_node_child_name(const shp_node *node, int index);

/* Calls fn(user_data, name, weight) for node and each descendant, weight = INT64_MAX >> depth. */
int shp_each_metric(shp_node *node, shp_metric_fn fn, void *user_data);

#define SHP_LEVELS 9
/* The cost factor of level 1..SHP_LEVELS. The level is not checked: the caller must keep it in
 * range (outside it the factor table is read out of bounds). */
double shp_level_cost(int level);

/* Label node with label, which is NOT copied: it must stay valid and unchanged until the node
 * is freed (or labelled again). NULL clears it. 0 on success, -1 without a node. */
int shp_node_set_label(shp_node *node, const char *label);
/* strlen of the node's label (0 without one). */
size_t shp_node_label_length(const shp_node *node);

/* Copy the node's name into out: *size is out's capacity in bytes on the way in (the name is
 * truncated to fit, NUL included) and the size the whole name needs on the way out. 0 when it
 * fit, 1 when truncated, -1 without a node or size. */
int shp_node_copy_name(const shp_node *node, char *out, size_t *size);

/* *out = a new node named name (copied), as shp_node_new makes (the sqlite3_open(path, &db)
 * shape). 0 on success; -1, with *out untouched, when out or name is NULL. */
int shp_node_open(shp_node **out, const char *name);

/* A weight: an integer by another name (as a library's status or size types are). */
typedef int32_t shp_weight;
/* weight * factor, saturated at the ends of shp_weight. */
shp_weight shp_weight_scale(shp_weight weight, shp_weight factor);

/* Feed bytes to the node (as a stream decoder takes its input): *size holds how many bytes data
 * has on the way in - all of them are read - and how many were consumed on the way out (at most
 * 8 per call; the rest is the caller's to feed again). Returns the node's checksum so far, or 0
 * without a node or size. */
uint32_t shp_node_feed(shp_node *node, const uint8_t *data, size_t *size);

typedef struct shp_style {
    int indent;
    const char *bullet;  /* a C string the library reads */
} shp_style;
/* The length of the node's name rendered with style (a struct of options the driver cannot
 * fill: its bullet is a pointer); NULL means the default style. -1 without a node. */
int shp_node_render_length(const shp_node *node, const shp_style *style);

#endif
