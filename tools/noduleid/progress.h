/*
 * progress.h - a one-line progress bar on stderr for the noduleid program.
 *
 * Drawn only when stderr is a terminal, the caller did not ask for quiet,
 * and the work has already lasted longer than a delay (1 s; the environment
 * variable NODULEID_PROGRESS_DELAY=SECONDS changes it, which the tests use
 * to see the bar without slow work). Never writes to stdout. The line is
 * erased when the work ends, so the terminal keeps only the real output.
 */
#ifndef NID__CLI_PROGRESS_H
#define NID__CLI_PROGRESS_H

#include <stddef.h>

typedef struct cli_progress {
    const char *label;  /* e.g. "embedding"; borrowed                    */
    size_t total;       /* number of steps; 0: unknown                  */
    size_t done;
    double start;       /* monotonic seconds at cli_progress_begin      */
    double last_draw;   /* when the line was last drawn                  */
    double delay;       /* seconds before the first draw                 */
    int enabled;        /* stderr is a tty and not quiet                 */
    int drawn;          /* something is on the line                      */
} cli_progress;

/* Monotonic clock in seconds. */
double cli_now(void);

/* Start a bar of `total` steps. quiet != 0 (--quiet) never draws. */
void cli_progress_begin(cli_progress *p, const char *label, size_t total,
                        int quiet);

/* `done` steps are finished; `what` (may be NULL) names the current item.
 * Redraws at most 10 times a second. */
void cli_progress_update(cli_progress *p, size_t done, const char *what);

/* Erase the line if one was drawn. */
void cli_progress_end(cli_progress *p);

#endif /* NID__CLI_PROGRESS_H */
