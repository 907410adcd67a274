/* cli.c - error reporting and JSON output shared by the sub-commands. */
#include "cli.h"

#include <stdarg.h>

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
    const char *msg = nid_last_error();
    cli_error("%s: %s", what, msg[0] ? msg : nid_status_str(status));
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
