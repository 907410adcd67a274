/* check_main.c - shared main() for Check test binaries: each test file
 * defines nid__test_suite(), this runs it and turns failures into the exit
 * status that ctest reads. */
#include <check.h>
#include <stdlib.h>

Suite *nid__test_suite(void);

int main(void)
{
    SRunner *sr = srunner_create(nid__test_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
