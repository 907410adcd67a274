/* suggest.c - "did you mean" suggestions for commands and options. */
#include "suggest.h"

#include <ctype.h>
#include <string.h>

#define MAXW 64

int cli_edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n >= MAXW || m >= MAXW) return 1000;
    int d[MAXW][MAXW];
    for (size_t i = 0; i <= n; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            int cost = ca != cb;
            int best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best) best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[n][m];
}

const char *cli_suggest(const char *word, const char *const *candidates, size_t n)
{
    if (!word || !*word) return NULL;
    size_t len = strlen(word);
    const char *best = NULL, *prefix = NULL;
    int best_d = 1000, ties = 0, n_prefix = 0;
    for (size_t i = 0; i < n; i++) {
        if (!candidates[i]) continue;
        if (len >= 2 && !strncmp(candidates[i], word, len)) {
            prefix = candidates[i];
            n_prefix++;
        }
        int d = cli_edit_distance(word, candidates[i]);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
            ties = 0;
        } else if (d == best_d && strcmp(best, candidates[i])) {
            ties++;
        }
    }
    if (best && best_d <= 2 && (size_t)best_d * 2 < len && ties == 0) return best;
    if (n_prefix == 1) return prefix;
    return NULL;
}

const char *cli_suggest_option(const char *arg, const struct option *longopts)
{
    if (!arg || !longopts) return NULL;
    while (*arg == '-') arg++;
    char word[MAXW];
    size_t k = 0;
    while (arg[k] && arg[k] != '=' && k + 1 < sizeof word) {
        word[k] = arg[k];
        k++;
    }
    word[k] = '\0';
    const char *names[128];
    size_t n = 0;
    for (const struct option *o = longopts; o->name && n < 128; o++) names[n++] = o->name;
    return cli_suggest(word, names, n);
}
