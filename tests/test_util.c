/* test_util.c - helpers shared by the Check test suites (test_util.h). */
#include "test_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

char nid_test_tmpdir[256];

const char *nid__test_temp_root(void)
{
    const char *t = getenv("TMPDIR");
    return t && t[0] ? t : "/tmp";
}

void nid__test_scratch_setup(const char *name)
{
    snprintf(nid_test_tmpdir, sizeof nid_test_tmpdir,
             "%s/nid_test_%s_XXXXXX", nid__test_temp_root(), name);
    ck_assert_ptr_nonnull(mkdtemp(nid_test_tmpdir));
}

void nid__test_scratch_teardown(void)
{
    DIR *d = opendir(nid_test_tmpdir);
    if (d) {
        struct dirent *de;
        char p[512];
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.') continue;
            snprintf(p, sizeof p, "%s/%s", nid_test_tmpdir, de->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(nid_test_tmpdir);
}

const char *nid__test_write_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", nid_test_tmpdir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}
