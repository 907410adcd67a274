/*
 * group_json.h - read back the result of `noduleid group` (format
 * "noduleid-group", version 1) for `gallery add --from-group` and
 * `match --from-group`: the nodules' mean embeddings, the model id and the
 * exam's patient, id and date.
 */
#ifndef NID__CLI_GROUP_JSON_H
#define NID__CLI_GROUP_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef struct cli_group_nodules {
    size_t k, d;         /* nodules x embedding size                     */
    float *mean;         /* k x d: each nodule's normalised mean         */
    int32_t *cluster;    /* nodule j's cluster number (label N<c + 1>)   */
    int32_t *count;      /* tracklets of nodule j                        */
    char model_id[72];
    char *patient_id;    /* NULL when the exam had none                  */
    char *exam_id;
    char *date;
} cli_group_nodules;

/* Load `path`. Returns CLI_OK, or CLI_EINPUT after printing a one-line
 * error naming the file and the field ("cmd: path: nodules[2].embedding:
 * ..."). */
int cli_group_load(const char *path, const char *cmd, cli_group_nodules *out);

void cli_group_nodules_free(cli_group_nodules *g);

#endif /* NID__CLI_GROUP_JSON_H */
