/* kv_error.c - status messages and the thread-local last-error slot. */
#include "kv_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_messages[KV_STATUS_COUNT] = {
    "ok",
    "invalid argument",
    "not found",
    "out of memory",
    "embedded NUL byte",
    "too large",
    "corrupt snapshot",
    "buffer too small",
    "cursor invalidated",
    "store busy",
};

/* The calling thread's last-error message: heap memory owned by the library, freed by
 * kv_clear_error or, through a pthread key destructor, when the thread exits. */
static __thread char *last_message;
static __thread size_t last_capacity;
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static void free_at_thread_exit(void *unused) {
    (void)unused;
    kv_clear_error();
}

static void make_exit_key(void) { pthread_key_create(&exit_key, free_at_thread_exit); }

/* Arms the thread-exit destructor for the calling thread (once per thread). */
static void arm_thread_exit(void) {
    pthread_once(&exit_key_once, make_exit_key);
    if (!pthread_getspecific(exit_key)) pthread_setspecific(exit_key, (void *)1);
}

const char *kv_strerror(kv_status status) {
    const char *const *table = status_messages;
    int code = (int)status;
    KV_REACHED(STRERROR_OOB);
    if (code == KV_STATUS_COUNT) KV_TRIGGERED(STRERROR_OOB);
#if KV_BUG_STRERROR_OOB
    if (code < 0 || code > KV_STATUS_COUNT) return "unknown status";
#else
    if (code < 0 || code >= KV_STATUS_COUNT) return "unknown status";
#endif
    return table[code];
}

/* Stores an already formatted message in the thread's slot, growing it when needed. */
static void store_message(const char *text, size_t n) {
    if (n + 1 > last_capacity) {
        char *grown = malloc(n + 1);
        if (!grown) return;
        if (last_message) KV_REACHED(LAST_ERROR_LEAK);
        if (last_message) KV_TRIGGERED(LAST_ERROR_LEAK);
#if !KV_BUG_LAST_ERROR_LEAK
        free(last_message);
#endif
        last_message = grown;
        last_capacity = n + 1;
        arm_thread_exit();
    }
    memcpy(last_message, text, n + 1);
}

static void format_message(const char *fmt, va_list ap) {
    KV_REACHED(ERROR_FORMAT_OVERFLOW);
#if KV_BUG_ERROR_FORMAT_OVERFLOW
    /* "messages are short": a fixed stack buffer and an unbounded format */
    char text[96];
    va_list probe;
    va_copy(probe, ap);
    if (vsnprintf(NULL, 0, fmt, probe) >= (int)sizeof text) KV_TRIGGERED(ERROR_FORMAT_OVERFLOW);
    va_end(probe);
    vsprintf(text, fmt, ap);
    store_message(text, strlen(text));
#else
    va_list probe;
    va_copy(probe, ap);
    int n = vsnprintf(NULL, 0, fmt, probe);
    va_end(probe);
    if (n < 0) return;
    if (n >= 96) KV_TRIGGERED(ERROR_FORMAT_OVERFLOW);
    char *text = malloc((size_t)n + 1);
    if (!text) return;
    vsnprintf(text, (size_t)n + 1, fmt, ap);
    store_message(text, (size_t)n);
    free(text);
#endif
}

kv_status kv__fail(kv_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    format_message(fmt, ap);
    va_end(ap);
    return status;
}

const char *kv_last_error(void) {
    return last_message ? last_message : "";
}

kv_status kv_last_error_copy(char *buf, size_t cap, size_t *needed) {
    const char *msg = kv_last_error();
    size_t n = strlen(msg);
    if (needed) *needed = n + 1;
    if (cap > 0 && !buf) return KV_ERR_INVALID;
    if (cap < n + 1) {
        if (cap > 0) {
            memcpy(buf, msg, cap - 1);
            buf[cap - 1] = '\0';
        }
        return KV_ERR_CAPACITY;
    }
    memcpy(buf, msg, n + 1);
    return KV_OK;
}

char *kv_last_error_dup(void) {
    const char *msg = kv_last_error();
    size_t n = strlen(msg);
    char *copy = malloc(n + 1);
    if (copy) memcpy(copy, msg, n + 1);
    return copy;
}

void kv_clear_error(void) {
    free(last_message);
    last_message = NULL;
    last_capacity = 0;
}
