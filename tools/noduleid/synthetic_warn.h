/* synthetic_warn.h - warn when a synthetic-data model meets real data. */
#ifndef NID__CLI_SYNTHETIC_WARN_H
#define NID__CLI_SYNTHETIC_WARN_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "noduleid.h"

/* 1 when the model metadata (JSON) names a training-data generator
 * (training.data.generator) and the exam meta (JSON) has no "generator"
 * or a different one; the model's generator is copied to `generator`. */
int cli_synthetic_mismatch(const char *model_meta, const char *exam_meta,
                           char *generator, size_t cap);

/* Print the one-line warning on stderr (once per process) when
 * cli_synthetic_mismatch holds for m and e. */
void cli_warn_synthetic(const nid_model *m, const nid_exam *e);

#endif
