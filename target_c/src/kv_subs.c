/* kv_subs.c - subscriptions, notification dispatch, deferred and threaded delivery. */
#include "kv_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

kv_sub_id kv_subscribe(kv_store *store, const char *prefix, kv_notify_fn fn, void *user_data,
                       kv_destroy_fn destroy) {
    if (!store || !fn) {
        kv__fail(KV_ERR_INVALID, "kv_subscribe: store or fn is NULL");
        return 0;
    }
    struct kv_sub *s = calloc(1, sizeof *s);
    size_t prefix_len = prefix ? strlen(prefix) : 0;
    char *prefix_copy = prefix_len ? malloc(prefix_len + 1) : NULL;
    if (!s || (prefix_len && !prefix_copy)) {
        free(s);
        free(prefix_copy);
        kv__fail(KV_ERR_NOMEM, "kv_subscribe: out of memory");
        return 0;
    }
    if (prefix_len) memcpy(prefix_copy, prefix, prefix_len + 1);
    s->id = store->next_sub_id++;
    s->prefix = prefix_copy;
    s->prefix_len = prefix_len;
    s->fn = fn;
    s->user_data = user_data;
    s->destroy = destroy;
    struct kv_sub **link = &store->subs;
    while (*link) link = &(*link)->next;
    *link = s;
    return s->id;
}

static int sub_matches(const struct kv_sub *s, const char *key) {
    return s->prefix_len == 0 || strncmp(key, s->prefix, s->prefix_len) == 0;
}

static void sub_release(struct kv_sub *s) {
    if (s->destroy) s->destroy(s->user_data);
    free(s->prefix);
    free(s);
}

static void unlink_sub(kv_store *store, struct kv_sub *s) {
    struct kv_sub **link = &store->subs;
    while (*link != s) link = &(*link)->next;
    *link = s->next;
}

/* Ends the subscriptions unsubscribed during the dispatch that just finished. */
static void reap_subscriptions(kv_store *store) {
    struct kv_sub **link = &store->subs;
    while (*link) {
        struct kv_sub *s = *link;
        if (!s->dead) {
            link = &s->next;
            continue;
        }
        *link = s->next;
        sub_release(s);
    }
}

static void queued_free(struct kv_queued *q) {
    free(q->key);
    free(q->value);
    free(q);
}

static void enqueue(kv_store *store, struct kv_sub *s, kv_event event, const char *key,
                    const uint8_t *value, size_t len) {
    struct kv_queued *q = calloc(1, sizeof *q);
    size_t key_len = strlen(key);
    char *key_copy = malloc(key_len + 1);
    uint8_t *value_copy = value ? kv__dup_value(value, len) : NULL;
    if (!q || !key_copy || (value && !value_copy)) {
        free(q);
        free(key_copy);
        free(value_copy);
        kv__fail(KV_ERR_NOMEM, "notification for \"%s\" dropped: out of memory", key);
        return;
    }
    memcpy(key_copy, key, key_len + 1);
    q->sub = s;
    q->event = event;
    q->key = key_copy;
    q->value = value_copy;
    q->len = value ? len : 0;
    if (store->queue_tail) store->queue_tail->next = q; else store->queue_head = q;
    store->queue_tail = q;
    store->queued++;
}

void kv__notify(kv_store *store, kv_event event, const char *key, const uint8_t *value,
                size_t len) {
    if (store->flags & KV_OPEN_DEFERRED) {
        for (struct kv_sub *s = store->subs; s; s = s->next)
            if (!s->dead && sub_matches(s, key)) enqueue(store, s, event, key, value, len);
        return;
    }
    store->dispatching++;
    struct kv_sub *next;
    for (struct kv_sub *s = store->subs; s; s = next) {
        next = s->next; /* s may unsubscribe itself */
        if (s->dead || !sub_matches(s, key)) continue;
        store->running = s;
        s->fn(s->user_data, event, key, value, len);
    }
    store->running = NULL;
    store->dispatching--;
    reap_subscriptions(store);
}

/* Drops the queued notifications meant for s. */
static void purge_queued(kv_store *store, const struct kv_sub *s) {
    struct kv_queued **link = &store->queue_head;
    store->queue_tail = NULL;
    while (*link) {
        struct kv_queued *q = *link;
        if (q->sub == s) {
            *link = q->next;
            store->queued--;
            queued_free(q);
        } else {
            store->queue_tail = q;
            link = &q->next;
        }
    }
}

kv_status kv_unsubscribe(kv_store *store, kv_sub_id id) {
    if (!store) return kv__fail(KV_ERR_INVALID, "kv_unsubscribe: store is NULL");
    struct kv_sub *s = store->subs;
    while (s && (s->id != id || s->dead)) s = s->next;
    if (!s) return kv__fail(KV_ERR_NOT_FOUND, "kv_unsubscribe: no subscription %llu",
                            (unsigned long long)id);
    if (store->dispatching && s != store->running && !(store->flags & KV_OPEN_DEFERRED)) {
        /* another subscription, during an immediate dispatch */
        KV_REACHED(UNSUBSCRIBE_DURING_DISPATCH);
        KV_TRIGGERED(UNSUBSCRIBE_DURING_DISPATCH);
#if KV_BUG_UNSUBSCRIBE_DURING_DISPATCH
        /* "no queue holds it": freed at once - but the dispatch loop may hold it */
        unlink_sub(store, s);
        sub_release(s);
        return KV_OK;
#endif
    }
    if (store->dispatching) {
        KV_REACHED(DESTROY_TWICE);
        if (s->destroy) KV_TRIGGERED(DESTROY_TWICE);
#if KV_BUG_DESTROY_TWICE
        /* "release the user's data early" - reap_subscriptions releases it again */
        if (s->destroy) s->destroy(s->user_data);
#endif
        s->dead = 1;
        return KV_OK;
    }
    KV_REACHED(QUEUED_AFTER_UNSUBSCRIBE);
    for (struct kv_queued *q = store->queue_head; q; q = q->next)
        if (q->sub == s) {
            KV_TRIGGERED(QUEUED_AFTER_UNSUBSCRIBE);
            break;
        }
#if !KV_BUG_QUEUED_AFTER_UNSUBSCRIBE
    purge_queued(store, s);
#endif
    unlink_sub(store, s);
    sub_release(s);
    return KV_OK;
}

size_t kv_pending(const kv_store *store) { return store ? store->queued : 0; }

static void deliver_queued(kv_store *store, struct kv_queued *q) {
    store->dispatching++;
    while (q) {
        struct kv_queued *next = q->next;
        if (!q->sub->dead) {
            store->running = q->sub;
            q->sub->fn(q->sub->user_data, q->event, q->key, q->value, q->len);
        }
        queued_free(q);
        q = next;
    }
    store->running = NULL;
    store->dispatching--;
    reap_subscriptions(store);
}

static struct kv_queued *detach_queue(kv_store *store) {
    struct kv_queued *q = store->queue_head;
    store->queue_head = store->queue_tail = NULL;
    store->queued = 0;
    return q;
}

static kv_status check_dispatch(kv_store *store, const char *func) {
    if (!store) return kv__fail(KV_ERR_INVALID, "%s: store is NULL", func);
    if (store->dispatching) return kv__fail(KV_ERR_BUSY, "%s: already dispatching", func);
    return KV_OK;
}

kv_status kv_dispatch(kv_store *store) {
    kv_status st = check_dispatch(store, "kv_dispatch");
    if (st) return st;
    deliver_queued(store, detach_queue(store));
    return KV_OK;
}

struct dispatch_job {
    kv_store *store;
    struct kv_queued *queue;
};

static void *dispatch_worker(void *arg) {
    struct dispatch_job *job = arg;
    deliver_queued(job->store, job->queue);
    return NULL;
}

kv_status kv_dispatch_threaded(kv_store *store) {
    kv_status st = check_dispatch(store, "kv_dispatch_threaded");
    if (st) return st;
    struct dispatch_job job = {store, detach_queue(store)};
    pthread_t worker;
    if (pthread_create(&worker, NULL, dispatch_worker, &job) != 0) {
        deliver_queued(store, job.queue); /* no thread: deliver here rather than lose them */
        return KV_OK;
    }
    pthread_join(worker, NULL);
    return KV_OK;
}

void kv__close_subscriptions(kv_store *store) {
    struct kv_queued *q = detach_queue(store);
    while (q) {
        struct kv_queued *next = q->next;
        queued_free(q);
        q = next;
    }
    struct kv_sub *s = store->subs;
    store->subs = NULL;
    while (s) {
        struct kv_sub *next = s->next;
        sub_release(s);
        s = next;
    }
}
