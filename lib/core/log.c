/* log.c - the process-wide log callback (silent by default). */
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* The callback, its payload and level are published together as one
 * immutable record so a reader never sees a callback with another's
 * payload. Records are never freed: there are at most a handful per
 * process (one per nid_set_log_callback call) and freeing them would race
 * with readers that are still delivering a message. They stay on a list
 * so they remain reachable (no leak reports from LeakSanitizer). */
typedef struct log_sink {
    nid_log_fn fn;
    void *payload;
    int max_level;
    struct log_sink *older;  /* every record ever made stays reachable */
} log_sink;

static _Atomic(log_sink *) current_sink;
static log_sink *all_sinks;          /* newest first; guarded by sinks_lock */
static pthread_mutex_t sinks_lock = PTHREAD_MUTEX_INITIALIZER;

void nid_set_log_callback(nid_log_fn fn, int max_level, void *payload)
{
    log_sink *s = NULL;
    if (fn) {
        s = (log_sink *)malloc(sizeof *s);
        if (!s) return; /* keep the previous sink rather than lose logging */
        s->fn = fn;
        s->payload = payload;
        s->max_level = max_level;
        pthread_mutex_lock(&sinks_lock);
        s->older = all_sinks;
        all_sinks = s;
        pthread_mutex_unlock(&sinks_lock);
    }
    atomic_store_explicit(&current_sink, s, memory_order_release);
}

void nid__log(int level, const char *fmt, ...)
{
    log_sink *s = atomic_load_explicit(&current_sink, memory_order_acquire);
    if (!s || level > s->max_level) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    s->fn(level, buf, s->payload);
}
