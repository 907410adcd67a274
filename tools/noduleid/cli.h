/*
 * cli.h - shared pieces of the noduleid command-line program.
 *
 * Each sub-command lives in its own cmd_<name>.c and has the signature
 *     int nid_cmd_<name>(int argc, char **argv);
 * where argv[0] is the sub-command name. It returns one of the exit codes
 * below and prints a one-line error (via cli_error) on failure.
 */
#ifndef NID__CLI_H
#define NID__CLI_H

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>

#include "noduleid.h"

/* Exit codes (documented in `noduleid --help` and the man page). */
enum {
    CLI_OK = 0,         /* success                                   */
    CLI_EFAIL = 1,      /* the library reported an error             */
    CLI_EUSAGE = 2,     /* bad command line                          */
    CLI_EINPUT = 3      /* an input file is missing or malformed     */
};

/* Print "noduleid: <message>\n" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A bad command line: print one line, "noduleid: <cmd>: <message>
 * (usage: <synopsis>; see noduleid <cmd> --help)", and return CLI_EUSAGE.
 * `optind_now` / `argv` name the offending option when message is NULL
 * (after getopt_long returned '?' with opterr = 0). */
int cli_usage_error(const char *cmd, const char *synopsis, char **argv,
                    int optind_now, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* A bad option after getopt_long(argc, argv, shortopts, longopts, NULL)
 * returned '?' (opterr = 0): one line, "noduleid: <cmd>: unknown option
 * '--treshold'; did you mean '--threshold'? (usage: <synopsis>; see
 * noduleid <cmd> --help)", or "option '--model' needs a value", "option
 * '-o' needs a value", "option '--json' takes no value". synopsis may be
 * NULL. Returns CLI_EUSAGE. */
int cli_option_error(const char *cmd, const char *synopsis,
                     const char *shortopts, const struct option *longopts,
                     char **argv, int optind_now);

/* Set by `--verbose` (anywhere before `--`) or $NODULEID_VERBOSE=1:
 * library messages keep the C function name they start with. */
extern int cli_verbose;

/* A library message as the user should read it: without the leading
 * "nid_function: " unless cli_verbose. */
const char *cli_user_message(const char *msg);

/* Report a failed library call: "noduleid: <what>: <message>" (the
 * message of nid_last_error() through cli_user_message) and map the
 * status to an exit code (NID_EIO/NID_EFORMAT -> CLI_EINPUT). */
int cli_lib_error(int status, const char *what);
int cli_lib_error_msg(int status, const char *what, const char *msg);

/* Write `j` to stdout as indented JSON followed by a newline and release
 * it. Returns CLI_OK or CLI_EFAIL. */
int cli_print_json(json_t *j);

#endif /* NID__CLI_H */
