/*
 * suggest.h - "did you mean" for the noduleid program: the closest of a
 * list of known words (commands, option names) to what the user typed.
 */
#ifndef NID__CLI_SUGGEST_H
#define NID__CLI_SUGGEST_H

#include <getopt.h>
#include <stddef.h>

/* Optimal-string-alignment distance (Levenshtein plus adjacent
 * transpositions), case-insensitive. Words longer than 63 bytes compare
 * as far apart. */
int cli_edit_distance(const char *a, const char *b);

/* The candidate closest to `word`, or NULL when none is close enough
 * (distance <= 2, and less than half the word's length), or when the
 * best distance is shared by two candidates. `word` may also be a prefix
 * of exactly one candidate. */
const char *cli_suggest(const char *word, const char *const *candidates, size_t n);

/* The long option of `longopts` closest to `arg` ("--treshold=0.3" ->
 * "threshold"), or NULL. */
const char *cli_suggest_option(const char *arg, const struct option *longopts);

#endif
