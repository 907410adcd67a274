/* fuzz_model_meta.c - model-package metadata (noduleid.json inside a
 * package; nid__model_meta_parse, lib/model/package.c). */
#include <stdlib.h>

#include "fuzz_util.h"
#include "model_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nid_model_meta m;
    if (nid__model_meta_parse((const char *)data, size, "fuzz.nidm", &m) ==
        NID_OK)
        free(m.description);
    return 0;
}
