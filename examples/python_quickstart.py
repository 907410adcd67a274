# %% [markdown]
# # libnoduleid from Python, in one sitting
#
# A notebook-style tour (cells marked `# %%`; run it as a script, or open it
# in Jupyter/VS Code as a notebook): load an exam, look at its tracklets,
# embed them with the shipped default model, cluster them into nodules the
# scikit-learn way and score the result against the exam's ground truth.
# The test `python_quickstart` runs it as written.

# %%
import os
import sys

import numpy as np

import noduleid

HERE = os.path.dirname(os.path.abspath(__file__))
EXAM = os.path.join(HERE, "sample-exam", "P0001", "P0001-E1.json")
MODEL = os.environ.get("NODULEID_MODEL",
                       os.path.join(HERE, "..", "models", "default.nidm"))
print("libnoduleid", noduleid.version(), sorted(noduleid.features()))

# %% [markdown]
# ## The exam is a sequence of tracklets

# %%
exam = noduleid.Exam.load(EXAM)
print(exam.info)                      # one line, however big the metadata
print(len(exam), "tracklets in", exam.info.n_videos, "videos")
for t in exam[:3]:                    # slices, negative indices, ids work too
    print(" ", t)
print(exam["v0-t0"].nodule, exam[-1].id)

# %% [markdown]
# Errors are the built-in exceptions you already catch:

# %%
try:
    noduleid.Exam.load("/no/such/exam.json")
except FileNotFoundError as e:
    print("FileNotFoundError:", e.errno, e.filename)

# %% [markdown]
# ## Embed every tracklet with the model's own clip options

# %%
if "torch" not in noduleid.features():
    # A library built without libtorch: use the bundled example embeddings.
    emb = np.load(os.path.join(HERE, "embeddings.npy")).astype(np.float32)
    truth = np.loadtxt(os.path.join(HERE, "truth.txt"), dtype=np.int32)
    model = None
    print("no libtorch: clustering examples/embeddings.npy instead")
else:
    model = noduleid.Model.load(MODEL, threads=1)
    print(model.info)                 # model id, input shape, D, comparison, tau
    rows = []
    for v in exam.videos:
        with noduleid.Video.open(v.resolved_path) as video:
            for t in exam[v.first_tracklet:v.first_tracklet + v.n_tracklets]:
                rows.append(model.embed_tracklet(video, exam, t.index))
    emb = np.stack(rows)
    truth = np.array([t.nodule for t in exam], dtype=np.int32)
print("embeddings", emb.shape)

# %% [markdown]
# ## Cluster into nodules, scikit-learn style
#
# `NoduleClustering` has `fit`, `fit_predict`, `labels_` and `n_clusters_`.
# With `model=`, it compares with the model's own comparison and clusters at
# its threshold `tau`.

# %%
est = noduleid.NoduleClustering(model=model) if model is not None \
    else noduleid.NoduleClustering(threshold=0.35)
labels = est.fit_predict(emb)
print(est, "->", est.n_clusters_, "nodules:", labels)

scores = noduleid.eval_clusters(truth, labels)
print("pairwise F %.2f, BCubed F %.2f" % (scores.pair_f, scores.bcubed_f))

# %%
assert len(labels) == len(emb) and est.n_clusters_ >= 1
if model is not None:
    model.close()
exam.close()
print("done")
sys.exit(0)
