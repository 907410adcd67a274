/* cli.c - error reporting and JSON output shared by the sub-commands. */
#include "cli.h"

#include <ctype.h>
#include <stdarg.h>
#include <string.h>

#include "suggest.h"

int cli_verbose = 0;

const char *cli_user_message(const char *msg)
{
    if (!msg || cli_verbose) return msg;
    /* "nid_exam_load: /x.json: ..." -> "/x.json: ...", also where the
     * library nests a callee's message ("embedding: tracklet 'a0':
     * nid_clip_build: ..."): every "nid_<name>: " that starts the message
     * or follows ": " goes. The CLI is single-threaded: one static buffer. */
    static char buf[4096];
    size_t o = 0;
    const char *p = msg;
    while (*p && o + 1 < sizeof buf) {
        if (!strncmp(p, "nid_", 4) && (p == msg || (p >= msg + 2 && p[-1] == ' ' &&
                                                    p[-2] == ':'))) {
            const char *q = p + 4;
            while (*q && (islower((unsigned char)*q) || isdigit((unsigned char)*q) ||
                          *q == '_'))
                q++;
            if (q[0] == ':' && q[1] == ' ' && q[2]) {
                p = q + 2;
                continue;
            }
        }
        buf[o++] = *p++;
    }
    buf[o] = '\0';
    return buf;
}

int cli_option_error(const char *cmd, const char *synopsis,
                     const char *shortopts, const struct option *longopts,
                     char **argv, int optind_now)
{
    const char *arg = argv && optind_now > 0 ? argv[optind_now - 1] : "?";
    fprintf(stderr, "noduleid: %s: ", cmd);
    const struct option *exact = NULL;
    int n_prefix = 0;
    int is_short = arg[0] == '-' && arg[1] && arg[1] != '-' && !arg[2];
    if (arg[0] == '-' && arg[1] == '-' && longopts) {
        size_t k = strcspn(arg + 2, "=");
        const struct option *prefix = NULL;
        for (const struct option *o = longopts; o->name; o++) {
            if (strncmp(o->name, arg + 2, k)) continue;
            if (strlen(o->name) == k) exact = o;
            prefix = o;
            n_prefix++;
        }
        if (!exact && k > 0 && n_prefix == 1) exact = prefix; /* "--thresh" */
    }
    const char *sp = is_short && shortopts && arg[1] != ':'
                         ? strchr(shortopts, arg[1]) : NULL;
    if (sp && sp[1] == ':')   /* "-o" with its value missing */
        fprintf(stderr, "option '%s' needs a value", arg);
    else if (exact && exact->has_arg == required_argument && !strchr(arg, '='))
        fprintf(stderr, "option '--%s' needs a value", exact->name);
    else if (exact && exact->has_arg == no_argument && strchr(arg, '='))
        fprintf(stderr, "option '--%s' takes no value", exact->name);
    else if (!exact && n_prefix > 1) {
        fprintf(stderr, "ambiguous option '%s' (", arg);
        size_t k = strcspn(arg + 2, "=");
        const char *sep = "";
        for (const struct option *o = longopts; o->name; o++)
            if (!strncmp(o->name, arg + 2, k)) {
                fprintf(stderr, "%s--%s", sep, o->name);
                sep = ", ";
            }
        fputc(')', stderr);
    } else {
        fprintf(stderr, "unknown option '%s'", arg);
        const char *s = arg[0] == '-' ? cli_suggest_option(arg, longopts) : NULL;
        if (s) fprintf(stderr, "; did you mean '--%s'?", s);
    }
    if (synopsis)
        fprintf(stderr, " (usage: %s; see noduleid %s --help)\n", synopsis, cmd);
    else
        fprintf(stderr, " (see noduleid %s --help)\n", cmd);
    return CLI_EUSAGE;
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("noduleid: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_usage_error(const char *cmd, const char *synopsis, char **argv,
                    int optind_now, const char *fmt, ...)
{
    fprintf(stderr, "noduleid: %s: ", cmd);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
    } else {
        fprintf(stderr, "unknown option or missing value '%s'",
                argv && optind_now > 0 ? argv[optind_now - 1] : "?");
    }
    fprintf(stderr, " (usage: %s; see noduleid %s --help)\n", synopsis, cmd);
    return CLI_EUSAGE;
}

int cli_lib_error(int status, const char *what)
{
    return cli_lib_error_msg(status, what, nid_last_error());
}

int cli_lib_error_msg(int status, const char *what, const char *msg)
{
    cli_error("%s: %s", what, msg[0] ? cli_user_message(msg) : nid_status_str(status));
    return (status == NID_EIO || status == NID_EFORMAT) ? CLI_EINPUT
                                                        : CLI_EFAIL;
}

int cli_print_json(json_t *j)
{
    if (!j) {
        cli_error("out of memory building the JSON output");
        return CLI_EFAIL;
    }
    int rc = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    json_decref(j);
    if (rc != 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
        cli_error("cannot write the output");
        return CLI_EFAIL;
    }
    return CLI_OK;
}
