/* dt.h - libdt, a small document tree (tests only), shaped like cJSON, libxml2 and yaml trees:
 * nodes that are objects (keyed children), arrays or strings; a tree is owned through its root,
 * and everything reached from a node is borrowed from it. */
#ifndef DT_H
#define DT_H

#include <stddef.h>
#include <stdint.h>

typedef struct dt_node dt_node;

/* New detached nodes: the caller owns them until dt_add hands them to a parent, and frees a
 * detached node (with everything under it) with dt_free. NULL when out of memory. */
dt_node *dt_new_object(void);
dt_node *dt_new_array(void);
dt_node *dt_new_string(const char *text);
/* Parses `text` (len bytes, no NUL needed): a string "..." (\" and \\ escapes), an array [a,b]
 * or an object {"k":v}. NULL when it is not one. */
dt_node *dt_parse(const char *text, size_t len);
void dt_free(dt_node *node);

/* Hands `child` (a detached node) to `parent`, an object or array, under `key` (copied; ignored
 * for an array). The parent owns the child from then on, even when this fails (it returns -1
 * and frees the child): the caller must not use or free `child` afterwards. */
int dt_add(dt_node *parent, const char *key, dt_node *child);

/* Children of `node`, borrowed: valid until `node` is freed, or a child of it is removed or
 * detached (dt_remove, dt_detach), or the tree they belong to is freed. NULL when absent. */
dt_node *dt_get(dt_node *node, const char *key);
dt_node *dt_child(dt_node *node, size_t index);
size_t dt_count(const dt_node *node);

/* The key a child has in its parent ("" in an array) and a string node's text (NULL for other
 * nodes): borrowed from the node, valid while it is and until dt_set_text changes it. */
const char *dt_key(const dt_node *node);
const char *dt_text(const dt_node *node);
int dt_set_text(dt_node *node, const char *text);

/* Removes (and frees) parent's child named key; -1 when there is none. */
int dt_remove(dt_node *parent, const char *key);
/* Takes `child` (which must be a child of `parent`) out of the tree and returns it: the caller
 * owns it (dt_free). NULL when child is not parent's. */
dt_node *dt_detach(dt_node *parent, dt_node *child);

/* The tree under node as text; the caller frees it with dt_text_free. *len gets its length. */
char *dt_render(const dt_node *node, size_t *len);
void dt_text_free(char *text);
/* How many nodes are in the tree under `node`, itself included (depth limit 64). */
size_t dt_size(const dt_node *node);

#endif
