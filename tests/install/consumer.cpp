// consumer.cpp - C++ applications are first-class users: the header must
// compile as C++ and the library link from C++ without extern "C" games.
#include <noduleid.h>

#include <cstdio>
#include <memory>
#include <vector>

struct online_deleter {
    void operator()(nid_online *p) const { nid_online_free(p); }
};

int main()
{
    nid_cluster_options o;
    nid_cluster_options_init(&o);
    o.threshold = 0.2f;
    nid_online *raw = nullptr;
    if (nid_online_create(&raw, 2, &o) != NID_OK) {
        std::fprintf(stderr, "%s\n", nid_last_error());
        return 1;
    }
    std::unique_ptr<nid_online, online_deleter> oc(raw);
    const std::vector<std::vector<float>> items = {
        {1, 0}, {0, 1}, {0.98f, 0.05f}, {0.02f, 1}};
    std::vector<int32_t> ids;
    for (const auto &x : items) {
        int32_t id = -1;
        if (nid_online_add(oc.get(), x.data(), &id) != NID_OK) return 1;
        ids.push_back(id);
    }
    std::printf("online ids: %d %d %d %d, %zu clusters\n", ids[0], ids[1],
                ids[2], ids[3], nid_online_n_clusters(oc.get()));
    return (ids[0] == ids[2] && ids[1] == ids[3] && ids[0] != ids[1] &&
            nid_online_n_clusters(oc.get()) == 2) ? 0 : 1;
}
