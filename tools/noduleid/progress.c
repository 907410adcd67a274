/* progress.c - the progress bar of progress.h. */
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 30

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double delay_from_env(void)
{
    const char *s = getenv("NODULEID_PROGRESS_DELAY");
    if (!s || !*s) return 1.0;
    char *end;
    double v = strtod(s, &end);
    return (end != s && *end == '\0' && v >= 0 && v < 1e6) ? v : 1.0;
}

void cli_progress_begin(cli_progress *p, const char *label, size_t total,
                        int quiet)
{
    memset(p, 0, sizeof *p);
    p->label = label;
    p->total = total;
    p->start = cli_now();
    p->delay = delay_from_env();
    p->enabled = !quiet && isatty(STDERR_FILENO);
}

static void draw(cli_progress *p, const char *what, double now)
{
    char bar[BAR_WIDTH + 1];
    size_t fill = p->total ? p->done * BAR_WIDTH / p->total : 0;
    if (fill > BAR_WIDTH) fill = BAR_WIDTH;
    memset(bar, '#', fill);
    memset(bar + fill, '.', BAR_WIDTH - fill);
    bar[BAR_WIDTH] = '\0';
    /* \r and erase-to-end-of-line: the line is rewritten in place */
    fprintf(stderr, "\r\033[K%s [%s] %zu/%zu %.1fs%s%.40s", p->label, bar,
            p->done, p->total, now - p->start, what ? "  " : "",
            what ? what : "");
    fflush(stderr);
    p->drawn = 1;
    p->last_draw = now;
}

void cli_progress_update(cli_progress *p, size_t done, const char *what)
{
    p->done = done;
    if (!p->enabled) return;
    double now = cli_now();
    if (now - p->start < p->delay) return;
    if (p->drawn && now - p->last_draw < 0.1 && done < p->total) return;
    draw(p, what, now);
}

void cli_progress_end(cli_progress *p)
{
    if (p->enabled && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    p->drawn = 0;
    p->enabled = 0;
}
