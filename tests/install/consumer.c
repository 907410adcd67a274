/* consumer.c - a tiny C99 application built against an INSTALLED
 * libnoduleid (pkg-config or find_package), as a user would. */
#include <noduleid.h>
#include <stdio.h>

int main(void)
{
    if (nid_version_number() != NID_VERSION_NUMBER) {
        fprintf(stderr, "header %d != library %u\n", NID_VERSION_NUMBER,
                nid_version_number());
        return 1;
    }
    /* two tight pairs far apart: two clusters */
    const float x[4 * 2] = {1, 0, 0.99f, 0.1f, 0, 1, 0.1f, 0.99f};
    int32_t labels[4];
    size_t k = 0;
    nid_cluster_options o;
    nid_cluster_options_init(&o);
    o.method = NID_CLUSTER_SINGLE;
    o.threshold = 0.1f;
    int rc = nid_cluster(x, 4, 2, &o, labels, 4, &k);
    if (rc != NID_OK) {
        fprintf(stderr, "%s: %s\n", nid_status_str(rc), nid_last_error());
        return 1;
    }
    printf("noduleid %s: %zu clusters [%d %d %d %d]\n", nid_version_string(),
           k, labels[0], labels[1], labels[2], labels[3]);
    return (k == 2 && labels[0] == labels[1] && labels[2] == labels[3] &&
            labels[0] != labels[2]) ? 0 : 1;
}
