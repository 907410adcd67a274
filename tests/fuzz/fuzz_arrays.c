/* fuzz_arrays.c - the noduleid program's array reader (.npy and
 * delimited text, tools/noduleid/arrays.c), and the conversions the
 * commands apply to what it reads. */
#include <stdlib.h>

#include <stdarg.h>

#include "arrays.h"
#include "fuzz_util.h"

/* The program's cli_error (tools/noduleid/cli.c) prints each error; here
 * it formats (so format bugs still show) and discards. */
void cli_error(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_file(data, size);
    if (!p) return 0;
    cli_array a;
    if (cli_array_load(p, &a) == 0) {
        free(cli_array_to_f32(&a, p));
        size_t n;
        (void)cli_array_as_vector(&a, p, &n);
        free(a.data);
    }
    fuzz_file_close();
    return 0;
}
