"""The main job from Python (issue 14): noduleid.group(exam) and
Model.embed_exam on the sample exam with the shipped default model give
the groups `noduleid group` printed before the loop moved into the library
(tests/data/sample-exam-groups.tsv); callbacks; a frame source."""
import os

import numpy as np
import pytest

import noduleid

from conftest import SOURCE_DIR

EXAM = os.path.join(SOURCE_DIR, "examples", "sample-exam", "P0001",
                    "P0001-E1.json")
MODEL = os.path.join(SOURCE_DIR, "models", "default.nidm")

pytestmark = pytest.mark.skipif(
    not {"torch", "video"} <= noduleid.features() or
    not os.path.exists(MODEL),
    reason="needs libtorch, FFmpeg and models/default.nidm")


def expected(variant):
    path = os.path.join(SOURCE_DIR, "tests", "data", "sample-exam-groups.tsv")
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                continue
            name, _, labels = line.rstrip("\n").split("\t")
            if name == variant:
                return [int(x) for x in labels.split(",")]
    raise AssertionError("no variant %s in %s" % (variant, path))


@pytest.fixture(scope="module")
def model():
    with noduleid.Model.load(MODEL, threads=2) as m:
        yield m


@pytest.fixture(scope="module")
def exam():
    with noduleid.Exam.load(EXAM) as e:
        yield e


def test_readme_example():
    # the README's five lines, with the default model found by the library
    os.environ["NODULEID_MODEL"] = MODEL
    try:
        assert noduleid.default_model_path() == (MODEL,
                                                 noduleid.ModelSource.ENV)
        exam = noduleid.Exam.load(EXAM)
        g = noduleid.group(exam, cannot_link=False)
        assert [n.label for n in g.nodules] == ["N%d" % (i + 1) for i in
                                                range(g.n_nodules)]
    finally:
        del os.environ["NODULEID_MODEL"]
    assert list(g.labels) == expected("default")


def test_groups_equal_cli(model, exam):
    g = noduleid.group(exam, model, cannot_link=False)
    assert list(g.labels) == expected("default")
    info = model.info
    assert g.compare == info.compare
    assert g.threshold == info.tau
    assert g.threshold_from == noduleid.SettingSource.MODEL
    assert g.method == noduleid.Method.PAPER
    # nodules: tracklet ids in exam order, embeddings the normalised means
    ids = [t.id for t in exam.tracklets]
    for n in g.nodules:
        assert list(n.tracklets) == [ids[t] for t in n.tracklet_indices]
        m = g.embeddings[list(n.tracklet_indices)].astype(np.float64).sum(0)
        np.testing.assert_allclose(n.embedding, m / np.linalg.norm(m),
                                   atol=1e-6)
        for t in n.tracklets:
            assert g.nodule_of(t) is n
    # scores against the exam's nodule ids
    truth = np.array([t.nodule for t in exam.tracklets], dtype=np.int32)
    assert g.scores == noduleid.eval_clusters(truth, g.labels)
    assert g.exact == (g.scores.pair_f == 1.0)
    assert g.similarity is None and g.online_steps is None
    assert g.timings.embed_s > 0 and g.timings.total_s >= g.timings.embed_s


def test_variants_equal_cli(model, exam):
    g = noduleid.group(exam, model, online=True, similarity=True,
                       cannot_link=False)
    assert list(g.labels) == expected("online")
    assert g.online and len(g.online_steps) == len(exam)
    assert sorted(s.tracklet for s in g.online_steps) == sorted(
        t.id for t in exam.tracklets)
    np.testing.assert_array_equal(g.similarity, g.similarity.T)
    np.testing.assert_allclose(
        g.similarity, model.compare_matrix(g.embeddings), atol=1e-6)
    g = noduleid.group(exam, model, method="single", cannot_link=False)
    assert list(g.labels) == expected("single")
    g = noduleid.group(exam, model, windows=True, cannot_link=False)
    assert list(g.labels) == expected("windows")
    assert (g.n_clips > 1).any()


def test_embed_exam_equals_tracklets(model, exam):
    emb = model.embed_exam(exam)
    assert emb.shape == (len(exam), model.info.embed_dim)
    videos = {}
    for t in exam.tracklets:
        if t.video not in videos:
            videos[t.video] = noduleid.Video.open(
                exam.video(t.video).resolved_path)
        np.testing.assert_array_equal(
            emb[t.index], model.embed_tracklet(videos[t.video], exam, t.index))


def test_progress_and_abort(model, exam):
    calls = []
    noduleid.group(exam, model,
                   progress=lambda d, n, tid: calls.append((d, n, tid)))
    assert [c[0] for c in calls] == list(range(len(exam) + 1))
    assert calls[-1] == (len(exam), len(exam), None)
    assert [c[2] for c in calls[:-1]] == [t.id for t in exam.tracklets]

    with pytest.raises(noduleid.CancelledError) as ei:
        noduleid.group(exam, model, progress=lambda d, n, tid: d == 2)
    assert ei.value.code == noduleid.Status.ECANCELED
    polls = []
    with pytest.raises(noduleid.CancelledError, match="abort"):
        model.embed_exam(exam, abort=lambda: polls.append(1) or len(polls) > 3)

    class Boom(Exception):
        pass

    def bad(d, n, tid):
        raise Boom("from the callback")
    with pytest.raises(Boom):
        noduleid.group(exam, model, progress=bad)


def test_frame_source_equals_files(model, exam):
    asked = []

    def pacs(e, v):
        asked.append(v)
        with noduleid.Video.open(e.video(v).resolved_path) as f:
            return np.stack(list(f))   # the frames, in memory
    a = noduleid.group(exam, model)
    b = noduleid.group(exam, model, video_source=pacs)
    assert asked == list(range(exam.info.n_videos))
    np.testing.assert_array_equal(a.embeddings, b.embeddings)
    np.testing.assert_array_equal(a.labels, b.labels)
    with pytest.raises(TypeError, match="video_source"):
        noduleid.group(exam, model, video_source=lambda e, v: 42)


def test_cluster_means():
    x = np.array([[1, 0], [1, 0], [0, 2]], dtype=np.float32)
    np.testing.assert_allclose(noduleid.cluster_means(x, [0, 0, 1]),
                               [[1, 0], [0, 1]])
    with pytest.raises(noduleid.InvalidArgumentError, match="no row"):
        noduleid.cluster_means(x, [0, 0, 2])
