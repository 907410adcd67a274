/* main.c - the noduleid command-line program: dispatch to sub-commands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int nid_cmd_cluster(int argc, char **argv);
int nid_cmd_eval(int argc, char **argv);
int nid_cmd_tracklets(int argc, char **argv);
int nid_cmd_clip(int argc, char **argv);
int nid_cmd_gallery(int argc, char **argv);
int nid_cmd_match(int argc, char **argv);

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    unsigned f = nid_features();
    printf("noduleid %s (library %s, header %s)\nfeatures:%s%s%s%s%s\n",
           NID_VERSION_STRING, nid_version_string(), NID_VERSION_STRING,
           f & NID_FEATURE_BLAS ? " blas" : "",
           f & NID_FEATURE_VIDEO ? " video" : "",
           f & NID_FEATURE_DICOM ? " dicom" : "",
           f & NID_FEATURE_TORCH ? " torch" : "",
           f & NID_FEATURE_CUDA ? " cuda" : "");
    if (nid_version_number() / 10000 != NID_VERSION_MAJOR) {
        cli_error("library major version %u does not match header %d",
                  nid_version_number() / 10000, NID_VERSION_MAJOR);
        return CLI_EFAIL;
    }
    return CLI_OK;
}

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"version", cmd_version, "print library version and compiled features"},
    {"cluster", nid_cmd_cluster, "group embeddings (or a distance matrix)"},
    {"eval", nid_cmd_eval, "clustering and pair-score metrics"},
    {"tracklets", nid_cmd_tracklets, "list the videos and tracklets of an annotation file"},
    {"clip", nid_cmd_clip, "dump a tracklet's model-ready clip as PNG frames"},
    {"gallery", nid_cmd_gallery, "store an exam's nodules for the next exam (add, list)"},
    {"match", nid_cmd_match, "match a new exam's nodules to a gallery"},
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
          "  3  an input file is missing or malformed\n", f);
}

int main(int argc, char **argv)
{
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
            return commands[i].run(argc - 1, argv + 1);
    cli_error("unknown command '%s' (see noduleid --help)", argv[1]);
    return CLI_EUSAGE;
}
