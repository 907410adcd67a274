/* synthetic_warn.c - one warning line when a model trained on synthetic
 * data (its card: metadata.training.data.generator, e.g. the project's
 * phantom) is used on an exam that is not from that generator (the exam's
 * meta.generator): its thresholds and accuracy were measured on
 * synthetic exams only. */
#include "synthetic_warn.h"

#include <string.h>

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

int cli_synthetic_mismatch(const char *model_meta, const char *exam_meta,
                           char *generator, size_t cap)
{
    json_t *m = model_meta ? json_loads(model_meta, 0, NULL) : NULL;
    const char *gen = jstr(json_object_get(json_object_get(m, "training"), "data"), "generator");
    int synthetic = gen && *gen;
    if (synthetic && generator && cap) snprintf(generator, cap, "%s", gen);
    int mismatch = 0;
    if (synthetic) {
        json_t *e = exam_meta ? json_loads(exam_meta, 0, NULL) : NULL;
        const char *eg = jstr(e, "generator");
        mismatch = !eg || strcmp(eg, gen) != 0;
        json_decref(e);
    }
    json_decref(m);
    return mismatch;
}

void cli_warn_synthetic(const nid_model *m, const nid_exam *e)
{
    static int warned = 0;
    if (warned || !m || !e) return;
    nid_model_info mi;
    nid_model_info_init(&mi);
    nid_exam_info ei;
    nid_exam_info_init(&ei);
    if (nid_model_get_info(m, &mi) != NID_OK || nid_exam_get_info(e, &ei) != NID_OK) return;
    char gen[128];
    if (!cli_synthetic_mismatch(mi.meta_json, ei.meta_json, gen, sizeof gen)) return;
    warned = 1;
    fprintf(stderr,
            "noduleid: warning: the model was trained on synthetic exams (%s) and this exam is not one; "
            "its groups are unvalidated on real ultrasound (retrain with training/, see the model card)\n",
            gen);
}
