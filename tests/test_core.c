/* test_core.c - version, status codes, last error, logging. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "noduleid.h"

START_TEST(version_matches_header)
{
    ck_assert_uint_eq(nid_version_number(), NID_VERSION_NUMBER);
    ck_assert_str_eq(nid_version_string(), NID_VERSION_STRING);
    char buf[32];
    snprintf(buf, sizeof buf, "%d.%d.%d", NID_VERSION_MAJOR,
             NID_VERSION_MINOR, NID_VERSION_PATCH);
    ck_assert_str_eq(nid_version_string(), buf);
}
END_TEST

START_TEST(status_strings)
{
    const int codes[] = {NID_OK, NID_EINVAL, NID_ENOMEM, NID_EIO,
                         NID_EFORMAT, NID_EBUFSIZE, NID_ENOTSUP,
                         NID_ECANCELED, NID_ERANGE, NID_EMISMATCH,
                         NID_EINTERNAL};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *s = nid_status_str(codes[i]);
        ck_assert_ptr_nonnull(s);
        ck_assert_msg(strncmp(s, "NID_", 4) == 0, "%s", s);
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(s, nid_status_str(codes[j]));
    }
    ck_assert_str_eq(nid_status_str(12345), "NID_E?: unknown status code");
}
END_TEST

START_TEST(last_error_roundtrip)
{
    nid_clear_error();
    ck_assert_str_eq(nid_last_error(), "");
    int method = 77;
    int rc = nid_cluster_method_parse("kmeans", &method);
    ck_assert_int_eq(rc, NID_EINVAL);
    ck_assert_int_eq(method, 77); /* out-parameter untouched on failure */
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "kmeans"));
    /* success clears the message */
    ck_assert_int_eq(nid_cluster_method_parse("single", &method), NID_OK);
    ck_assert_int_eq(method, NID_CLUSTER_SINGLE);
    ck_assert_str_eq(nid_last_error(), "");
    nid_cluster_method_parse("kmeans", &method);
    nid_clear_error();
    ck_assert_str_eq(nid_last_error(), "");
}
END_TEST

START_TEST(last_error_truncates_long_messages)
{
    char big[4000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    int method;
    ck_assert_int_eq(nid_cluster_method_parse(big, &method), NID_EINVAL);
    size_t len = strlen(nid_last_error());
    ck_assert_uint_lt(len, sizeof big);
    ck_assert_str_eq(nid_last_error() + len - 3, "...");
}
END_TEST

static void *other_thread(void *arg)
{
    (void)arg;
    /* a fresh thread sees no error, and its own error stays its own */
    int clean = nid_last_error()[0] == '\0';
    int method;
    nid_cluster_method_parse("thread-error", &method);
    return (void *)(intptr_t)clean;
}

START_TEST(last_error_is_per_thread)
{
    int method;
    nid_cluster_method_parse("main-error", &method);
    pthread_t t;
    void *clean = NULL;
    ck_assert_int_eq(pthread_create(&t, NULL, other_thread, NULL), 0);
    ck_assert_int_eq(pthread_join(t, &clean), 0);
    ck_assert_int_eq((int)(intptr_t)clean, 1);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "main-error"));
}
END_TEST

typedef struct log_capture {
    int calls;
    int last_level;
    char last_msg[256];
} log_capture;

static void capture_log(int level, const char *msg, void *payload)
{
    log_capture *c = (log_capture *)payload;
    c->calls++;
    c->last_level = level;
    snprintf(c->last_msg, sizeof c->last_msg, "%s", msg);
}

START_TEST(log_callback_levels)
{
    log_capture c = {0};
    int method;
    /* failures are logged at debug level: filtered out at WARN */
    nid_set_log_callback(capture_log, NID_LOG_WARN, &c);
    nid_cluster_method_parse("filtered", &method);
    ck_assert_int_eq(c.calls, 0);
    nid_set_log_callback(capture_log, NID_LOG_DEBUG, &c);
    nid_cluster_method_parse("bad-thing", &method);
    ck_assert_int_eq(c.calls, 1);
    ck_assert_int_eq(c.last_level, NID_LOG_DEBUG);
    ck_assert_ptr_nonnull(strstr(c.last_msg, "bad-thing"));
    ck_assert_ptr_nonnull(strstr(c.last_msg, "NID_EINVAL"));
    /* NULL restores the silent default */
    nid_set_log_callback(NULL, 0, NULL);
    nid_cluster_method_parse("silent", &method);
    ck_assert_int_eq(c.calls, 1);
}
END_TEST

START_TEST(features_are_consistent)
{
    unsigned f = nid_features();
    /* CUDA implies torch */
    if (f & NID_FEATURE_CUDA) ck_assert(f & NID_FEATURE_TORCH);
    ck_assert_uint_eq(f & ~0x1Fu, 0);
}
END_TEST

Suite *nid__test_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, version_matches_header);
    tcase_add_test(tc, status_strings);
    tcase_add_test(tc, last_error_roundtrip);
    tcase_add_test(tc, last_error_truncates_long_messages);
    tcase_add_test(tc, last_error_is_per_thread);
    tcase_add_test(tc, log_callback_levels);
    tcase_add_test(tc, features_are_consistent);
    suite_add_tcase(s, tc);
    return s;
}
