/*
 * json.h - the one formatter of JSON errors (exam files, COCO-VID imports,
 * model package metadata); not installed.
 *
 *     <fn>: <file>: "<location>": <message>     (location: JSON path)
 *     <fn>: <file>: (top level): <message>      (location empty)
 *     <fn>: <file>: not valid JSON (line L, column C): <jansson's text>
 */
#ifndef NID__JSON_H
#define NID__JSON_H

#include <jansson.h>
#include <stdarg.h>

#include "internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* NID_EFORMAT with the message above; location = parent and key joined by
 * '.' (either may be NULL or empty). Returns NID_EFORMAT. */
int nid__json_fail(const char *fn, const char *file, const char *parent,
                   const char *key, const char *fmt, ...) NID__PRINTF(5, 6);
int nid__json_vfail(const char *fn, const char *file, const char *parent,
                    const char *key, const char *fmt, va_list ap);

/* A document jansson could not parse: `status` (NID_EFORMAT for files,
 * NID_EINVAL for arguments) with the line, column and jansson's text. */
int nid__json_parse_fail(int status, const char *fn, const char *file,
                         const json_error_t *err);

/* "an object", "a string", "an integer", "a number" (real), "a boolean",
 * "null" for messages such as "expected an integer, got a string". */
const char *nid__json_type_name(const json_t *j);

#ifdef __cplusplus
}
#endif

#endif /* NID__JSON_H */
