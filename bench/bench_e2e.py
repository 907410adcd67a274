#!/usr/bin/python3
"""bench_e2e.py - one exam from files to nodule groups through the Python
binding (the side of bench/bench_e2e.sh that needs no CLI).

  bench_e2e.py EXAM.json MODEL.nidm [--threads T] [--method paper]

In this (fresh) process: load the model package, load the exam, open each
video, embed every tracklet (nid_model_embed_tracklet: decode the frames
the clip needs, crop, resize, normalise, one forward pass per tracklet),
compare every pair (nid_model_compare_matrix: cosine, or the verification
head), cluster at the model's tau (nid_cluster_dist), score against the
exam's nodule ids. Prints one line of key=value timings: load_s, embed_s
(decode + clips + inference), cluster_s (compare + cluster), total_s
(everything after the interpreter and the binding are imported), video_s
(the exam's duration: sum of n_frames / fps) and the result.
"""
import argparse
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exam")
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--method", default="paper")
    a = ap.parse_args()
    t0 = time.perf_counter()
    import numpy as np
    import noduleid as nid
    t_imp = time.perf_counter()
    m = nid.Model.load(a.model, threads=a.threads)
    info = m.info
    mode = "verify" if info.compare == nid.CompareMode.VERIFY else "cosine"
    t_load = time.perf_counter()
    ex = nid.Exam.load(a.exam)
    videos = {}
    emb = np.empty((len(ex), info.embed_dim), np.float32)
    duration = sum(v.n_frames / v.fps for v in ex.videos if v.fps > 0)
    try:
        for t in ex.tracklets:
            if t.video not in videos:
                # grey, as training built its clips (a grey frame fills all channels)
                videos[t.video] = nid.Video.open(ex.video(t.video).resolved_path, "gray")
            emb[t.index] = m.embed_tracklet(videos[t.video], ex, t.index)
    finally:
        for v in videos.values():
            v.close()
    t_emb = time.perf_counter()
    S = m.compare_matrix(emb, mode)
    D = np.maximum(0.0, 1.0 - S).astype(np.float32)
    D = np.minimum(D, D.T)
    np.fill_diagonal(D, 0.0)
    labels, k = nid.cluster_distances(D, a.method, info.tau)
    t_end = time.perf_counter()
    truth = np.array([t.nodule for t in ex.tracklets], np.int32)
    f = nid.eval_clusters(truth, labels).pair_f if (truth >= 0).all() else float("nan")
    print("python tracklets=%d nodules_true=%d groups=%d pair_f=%.4f video_s=%.2f "
          "import_s=%.3f load_s=%.3f embed_s=%.3f cluster_s=%.4f total_s=%.3f"
          % (len(ex), len(set(truth.tolist())), k, f, duration, t_imp - t0, t_load - t_imp,
             t_emb - t_load, t_end - t_emb, t_end - t_imp))
    ex.close()
    m.close()


if __name__ == "__main__":
    main()
