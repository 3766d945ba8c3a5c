/* cfg.h - libcfg: INI-style configuration documents with change watchers.
 *
 * A second C library for ffi-harness's tests, written for them: a different domain and
 * different API shapes from the embedded libkv (text + length parsing, caller-provided
 * output buffers, a "takes ownership" parameter, integer registration ids, a release
 * notifier per watcher). Its ownership contract is in ../cfg.toml; nothing else describes it.
 */
#ifndef CFG_H
#define CFG_H

#include <stddef.h>

typedef struct cfg_doc cfg_doc;

/* Called on every change: the new value, or NULL when the key was removed. */
typedef void (*cfg_watch_fn)(void *user_data, const char *section, const char *key,
                             const char *value);
/* Called exactly once when a watch ends (cfg_unwatch or cfg_free). */
typedef void (*cfg_release_fn)(void *user_data);

/* An empty document; free it with cfg_free. */
cfg_doc *cfg_new(void);
/* Parse len bytes of INI text ("[section]", "key = value", "key = \"quoted\"", "; comment").
 * The text need not be NUL-terminated. NULL on a syntax error; free with cfg_free. */
cfg_doc *cfg_parse(const char *text, size_t len);
/* Ends every watch (each release called once) and frees the document. */
void cfg_free(cfg_doc *doc);

/* Set section.key to value (copied). 0 on success, -1 on bad arguments. */
int cfg_set(cfg_doc *doc, const char *section, const char *key, const char *value);
/* The value of section.key or NULL. Borrowed from doc: valid until the next cfg_set,
 * cfg_remove or cfg_free on that document, and unchanged until then. */
const char *cfg_get(const cfg_doc *doc, const char *section, const char *key);
/* Remove section.key. 0 when removed, -1 when absent. */
int cfg_remove(cfg_doc *doc, const char *section, const char *key);
/* Number of keys in the document. */
size_t cfg_count(const cfg_doc *doc);

/* The document as INI text, NUL-terminated; its length (without the NUL) in *out_len.
 * The caller owns the result and frees it with cfg_string_free. */
char *cfg_dump(const cfg_doc *doc, size_t *out_len);
void cfg_string_free(char *text);

/* Write in with '"', '\\' and control bytes escaped into out (capacity cap bytes,
 * NUL included, truncated to fit). Returns the escaped length without the NUL. */
size_t cfg_escape(const char *in, char *out, size_t cap);

/* Replace the document's comment. Takes ownership of comment (a malloc'd string,
 * freed by the library with free()); NULL clears it. 0 on success. */
int cfg_set_comment(cfg_doc *doc, char *comment);
/* The comment or NULL; borrowed from doc until cfg_set_comment or cfg_free. */
const char *cfg_comment(const cfg_doc *doc);

/* Watch every change of doc. Returns an id > 0, or -1 on bad arguments. The watch ends
 * with cfg_unwatch(doc, id) or cfg_free(doc); release (may be NULL) is then called once
 * and fn is never called again; user_data must stay valid until then. */
int cfg_watch(cfg_doc *doc, cfg_watch_fn fn, cfg_release_fn release, void *user_data);
/* End a watch. 0 on success, -1 when id is not a live watch of doc. */
int cfg_unwatch(cfg_doc *doc, int id);

#endif /* CFG_H */
