/*
 * test_util.h - helpers shared by the Check test suites.
 */
#ifndef NID__TEST_UTIL_H
#define NID__TEST_UTIL_H

#include <check.h>
#include <string.h>

#include "noduleid.h"

/* `call` fails with status `code` and nid_last_error() contains `needle`. */
#define ASSERT_ERR(call, code, needle)                                     \
    do {                                                                   \
        int rc_ = (call);                                                  \
        ck_assert_msg(rc_ == (code), "%s: got %d (%s), want %d", #call,    \
                      rc_, nid_last_error(), (code));                      \
        ck_assert_msg(strstr(nid_last_error(), (needle)) != NULL,          \
                      "message '%s' lacks '%s'", nid_last_error(),         \
                      (needle));                                           \
    } while (0)

/* nid_last_error() contains `sub`. */
#define HAS(sub)                                                           \
    ck_assert_msg(strstr(nid_last_error(), (sub)) != NULL,                 \
                  "error \"%s\" lacks \"%s\"", nid_last_error(), (sub))

/* The directory for temporary files: $TMPDIR, else /tmp. */
const char *nid__test_temp_root(void);

/* A scratch directory per test: nid__test_scratch_setup("name") creates
 * $TMPDIR/nid_test_name_XXXXXX (use as a Check fixture), nid_test_scratch_
 * teardown() removes it and the files in it. */
extern char nid_test_tmpdir[256];
void nid__test_scratch_setup(const char *name);
void nid__test_scratch_teardown(void);

/* Write `text` to <scratch dir>/name; returns the path (static buffer,
 * valid until the next call). */
const char *nid__test_write_file(const char *name, const char *text);

#endif /* NID__TEST_UTIL_H */
