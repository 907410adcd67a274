/* main.c - the noduleid command-line program: dispatch to sub-commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "suggest.h"

int nid__cmd_cluster(int argc, char **argv);
int nid__cmd_eval(int argc, char **argv);
int nid__cmd_tracklets(int argc, char **argv);
int nid__cmd_clip(int argc, char **argv);
int nid__cmd_gallery(int argc, char **argv);
int nid__cmd_match(int argc, char **argv);
int nid__cmd_group(int argc, char **argv);
int nid__cmd_embed(int argc, char **argv);
int nid__cmd_compare(int argc, char **argv);
int nid__cmd_info(int argc, char **argv);

static int cmd_version(int argc, char **argv)
{
    int as_json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            as_json = 1;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            puts("usage: noduleid version [--json]\n\nPrints the program's "
                 "and the library's version and the\nfeatures compiled in "
                 "(blas, video, dicom, torch, cuda).");
            return CLI_OK;
        } else {
            cli_error("version: unknown argument '%s' (see noduleid version "
                      "--help)", argv[i]);
            return CLI_EUSAGE;
        }
    }
    unsigned f = nid_features();
    if (nid_version_number() / 10000 != NID_VERSION_MAJOR) {
        cli_error("library major version %u does not match header %d",
                  nid_version_number() / 10000, NID_VERSION_MAJOR);
        return CLI_EFAIL;
    }
    if (as_json) {
        json_t *feat = json_array();
        static const struct { unsigned bit; const char *name; } names[] = {
            {NID_FEATURE_BLAS, "blas"}, {NID_FEATURE_VIDEO, "video"},
            {NID_FEATURE_DICOM, "dicom"}, {NID_FEATURE_TORCH, "torch"},
            {NID_FEATURE_CUDA, "cuda"}};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (f & names[i].bit)
                json_array_append_new(feat, json_string(names[i].name));
        return cli_print_json(json_pack("{s:s, s:s, s:s, s:o}", "program",
                                        NID_VERSION_STRING, "library",
                                        nid_version_string(), "header",
                                        NID_VERSION_STRING, "features", feat));
    }
    printf("noduleid %s (library %s, header %s)\nfeatures:%s%s%s%s%s\n",
           NID_VERSION_STRING, nid_version_string(), NID_VERSION_STRING,
           f & NID_FEATURE_BLAS ? " blas" : "",
           f & NID_FEATURE_VIDEO ? " video" : "",
           f & NID_FEATURE_DICOM ? " dicom" : "",
           f & NID_FEATURE_TORCH ? " torch" : "",
           f & NID_FEATURE_CUDA ? " cuda" : "");
    return CLI_OK;
}

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"group", nid__cmd_group, "count an exam's nodules: which tracklets show each one"},
    {"embed", nid__cmd_embed, "embed an exam's tracklets with the model"},
    {"compare", nid__cmd_compare, "similarity of embeddings (cosine or verify)"},
    {"info", nid__cmd_info, "show a model package's metadata"},
    {"version", cmd_version, "print library version and compiled features"},
    {"cluster", nid__cmd_cluster, "group embeddings (or a distance matrix)"},
    {"eval", nid__cmd_eval, "clustering and pair-score metrics"},
    {"tracklets", nid__cmd_tracklets, "list the videos and tracklets of an annotation file"},
    {"clip", nid__cmd_clip, "dump a tracklet's model-ready clip as PNG frames"},
    {"gallery", nid__cmd_gallery, "store an exam's nodules for the next exam (add, list)"},
    {"match", nid__cmd_match, "match a new exam's nodules to a gallery"},
};

static void usage(FILE *f)
{
    fputs("usage: noduleid COMMAND [OPTIONS] [ARGS]\n\ncommands:\n", f);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\n`noduleid COMMAND --help` describes a command.\n"
          "\nexit status:\n"
          "  0  success\n"
          "  1  the library reported an error\n"
          "  2  bad command line\n"
          "  3  an input file is missing or malformed\n"
          "\nmodel (group, embed, compare --verify, info): --model PATH, else\n"
          "$NODULEID_MODEL, else the installed default model\n"
          "<bindir>/../share/noduleid/default.nidm, else (in a build tree)\n"
          "the source tree's models/default.nidm. `noduleid info --locate`\n"
          "says which one is used. Progress bars appear on stderr only when\n"
          "it is a terminal (--quiet turns them off). Errors are one line in\n"
          "the user's terms; --verbose (any position) or NODULEID_VERBOSE=1\n"
          "adds the library function that failed. See man noduleid.\n", f);
}

/* Take `--verbose` out of argv (anywhere before a `--`): library messages
 * then keep the C function name they start with. Also $NODULEID_VERBOSE. */
static int strip_verbose(int argc, char **argv)
{
    const char *env = getenv("NODULEID_VERBOSE");
    if (env && *env && strcmp(env, "0")) cli_verbose = 1;
    int out = 1;
    int done = 0;
    for (int i = 1; i < argc; i++) {
        if (!done && !strcmp(argv[i], "--")) done = 1;
        if (!done && !strcmp(argv[i], "--verbose")) {
            cli_verbose = 1;
            continue;
        }
        argv[out++] = argv[i];
    }
    argv[out] = NULL;
    return out;
}

/* A command is done and has closed its files: end the process without
 * the loaded libraries' exit-time destructors once stdout and stderr are
 * flushed. After a model ran, those are libtorch's (its operator registry)
 * and the unmapping of ~290 libraries: 0.09 s of a 1.1 s `group`
 * (bench/bench_group_speed.sh). Sanitizer builds exit normally, for
 * their leak check. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define NID_CLI_NORMAL_EXIT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define NID_CLI_NORMAL_EXIT 1
#endif
#endif
static int quick_exit_after(int rc)
{
#ifndef NID_CLI_NORMAL_EXIT
    if (fflush(NULL) == 0) _exit(rc);
#endif
    return rc;
}

int main(int argc, char **argv)
{
    argc = strip_verbose(argc, argv);
    if (argc < 2) {
        usage(stderr);
        return CLI_EUSAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(argv[1], "--version")) return cmd_version(0, NULL);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return quick_exit_after(commands[i].run(argc - 1, argv + 1));
    const char *names[sizeof commands / sizeof commands[0] + 1];
    size_t n = 0;
    for (; n < sizeof commands / sizeof commands[0]; n++) names[n] = commands[n].name;
    names[n++] = "help";
    const char *s = cli_suggest(argv[1], names, n);
    if (s)
        cli_error("unknown command '%s'; did you mean '%s'? (see noduleid --help)", argv[1], s);
    else
        cli_error("unknown command '%s' (see noduleid --help)", argv[1]);
    return CLI_EUSAGE;
}
