/* json.c - one formatter of JSON errors (json.h). */
#include "json.h"

#include <stdio.h>

int nid__json_vfail(const char *fn, const char *file, const char *parent,
                    const char *key, const char *fmt, va_list ap)
{
    char msg[640];
    vsnprintf(msg, sizeof msg, fmt, ap);
    int has_p = parent && parent[0], has_k = key && key[0];
    if (!has_p && !has_k)
        return nid__fail(NID_EFORMAT, "%s: %s: (top level): %s", fn, file, msg);
    return nid__fail(NID_EFORMAT, "%s: %s: \"%s%s%s\": %s", fn, file,
                    has_p ? parent : "", has_p && has_k ? "." : "",
                    has_k ? key : "", msg);
}

int nid__json_fail(const char *fn, const char *file, const char *parent,
                   const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = nid__json_vfail(fn, file, parent, key, fmt, ap);
    va_end(ap);
    return rc;
}

int nid__json_parse_fail(int status, const char *fn, const char *file,
                         const json_error_t *err)
{
    return nid__fail(status, "%s: %s: not valid JSON (line %d, column %d): %s",
                    fn, file, err->line, err->column, err->text);
}

const char *nid__json_type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:  return "an object";
    case JSON_ARRAY:   return "an array";
    case JSON_STRING:  return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL:    return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:   return "a boolean";
    case JSON_NULL:    return "null";
    }
    return "?";
}
