/* group_json.c - read a `noduleid group` result (see group_json.h). */
#include "group_json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void cli_group_nodules_free(cli_group_nodules *g)
{
    if (!g) return;
    free(g->mean);
    free(g->cluster);
    free(g->count);
    free(g->patient_id);
    free(g->exam_id);
    free(g->date);
    memset(g, 0, sizeof *g);
}

static char *dup_or_null(const json_t *j)
{
    const char *s = json_string_value(j);
    return s ? strdup(s) : NULL;
}

#define BAD(...) do { cli_error(__VA_ARGS__); goto fail; } while (0)

int cli_group_load(const char *path, const char *cmd, cli_group_nodules *out)
{
    json_error_t err;
    cli_group_nodules g;
    memset(&g, 0, sizeof g);
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        if (err.line <= 0)
            cli_error("%s: %s: %s", cmd, path, err.text);
        else
            cli_error("%s: %s:%d: not JSON: %s", cmd, path, err.line,
                      err.text);
        return CLI_EINPUT;
    }
    const char *fmt = json_string_value(json_object_get(root, "format"));
    if (!fmt || strcmp(fmt, "noduleid-group") != 0)
        BAD("%s: %s: format: expected \"noduleid-group\" (the output of "
            "noduleid group --out), got %s", cmd, path, fmt ? fmt : "none");
    json_t *ver = json_object_get(root, "version");
    if (!json_is_integer(ver) || json_integer_value(ver) != 1)
        BAD("%s: %s: version: expected 1", cmd, path);
    const char *mid = json_string_value(
        json_object_get(json_object_get(root, "model"), "model_id"));
    if (!mid || !*mid || strlen(mid) >= sizeof g.model_id)
        BAD("%s: %s: model.model_id: expected a model id string", cmd, path);
    snprintf(g.model_id, sizeof g.model_id, "%s", mid);
    json_t *exam = json_object_get(root, "exam");
    g.patient_id = dup_or_null(json_object_get(exam, "patient_id"));
    g.exam_id = dup_or_null(json_object_get(exam, "exam_id"));
    g.date = dup_or_null(json_object_get(exam, "date"));
    json_t *nod = json_object_get(root, "nodules");
    g.k = json_array_size(nod);
    if (!json_is_array(nod) || g.k == 0)
        BAD("%s: %s: nodules: expected a non-empty array", cmd, path);
    g.d = json_array_size(json_object_get(json_array_get(nod, 0),
                                          "embedding"));
    if (g.d == 0 || g.d > 65536)
        BAD("%s: %s: nodules[0].embedding: expected 1 to 65536 numbers", cmd,
            path);
    g.mean = malloc(g.k * g.d * sizeof *g.mean);
    g.cluster = malloc(g.k * sizeof *g.cluster);
    g.count = malloc(g.k * sizeof *g.count);
    if (!g.mean || !g.cluster || !g.count) BAD("%s: out of memory", cmd);
    for (size_t j = 0; j < g.k; j++) {
        json_t *nj = json_array_get(nod, j);
        json_t *emb = json_object_get(nj, "embedding");
        json_t *cl = json_object_get(nj, "cluster");
        json_t *nt = json_object_get(nj, "n_tracklets");
        if (!json_is_array(emb) || json_array_size(emb) != g.d)
            BAD("%s: %s: nodules[%zu].embedding: expected %zu numbers, got "
                "%zu", cmd, path, j, g.d, json_array_size(emb));
        if (!json_is_integer(cl) || json_integer_value(cl) < 0 ||
            json_integer_value(cl) > 1000000)
            BAD("%s: %s: nodules[%zu].cluster: expected an integer 0..1000000",
                cmd, path, j);
        if (!json_is_integer(nt) || json_integer_value(nt) < 1 ||
            json_integer_value(nt) > INT32_MAX)
            BAD("%s: %s: nodules[%zu].n_tracklets: expected an integer >= 1",
                cmd, path, j);
        for (size_t q = 0; q < g.d; q++) {
            json_t *v = json_array_get(emb, q);
            double x = json_number_value(v);
            if (!json_is_number(v) || !isfinite(x))
                BAD("%s: %s: nodules[%zu].embedding[%zu]: expected a finite "
                    "number", cmd, path, j, q);
            g.mean[j * g.d + q] = (float)x;
        }
        g.cluster[j] = (int32_t)json_integer_value(cl);
        g.count[j] = (int32_t)json_integer_value(nt);
    }
    json_decref(root);
    *out = g;
    return CLI_OK;
fail:
    json_decref(root);
    cli_group_nodules_free(&g);
    return CLI_EINPUT;
}
