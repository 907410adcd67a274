#!/usr/bin/python3
"""ctest orthanc_plugin: the Orthanc plugin against a real Orthanc.

Starts Orthanc on loopback (temporary config and storage, free ports, the
built plugin), sends a phantom patient's two studies (one through storescu,
one through the REST API), groups them through the plugin, checks the
groups equal `noduleid group` on the same DICOM files, the follow-up
matches, that the stored result and the gallery survive a restart, and
that bad input (malformed bodies, missing / non-ultrasound / corrupt
instances, unknown studies) gives clear HTTP errors without bringing
Orthanc down. Real ultrasound loops from ../shared/data/dicom are used when
present. Orthanc is stopped whatever happens. Exit 77 (skip) only when
Orthanc or storescu is not installed.
"""
import argparse
import atexit
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

SKIP = 77
procs = []


def log(*a):
    print("orthanc_plugin:", *a, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_all():
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    procs.clear()


class Orthanc:
    def __init__(self, exe, plugin, work, model):
        self.exe, self.work = exe, work
        self.http, self.dicom = free_port(), free_port()
        self.cfg = os.path.join(work, "orthanc.json")
        storage = os.path.join(work, "storage")
        os.makedirs(storage, exist_ok=True)
        with open(self.cfg, "w") as f:
            json.dump({
                "Name": "noduleid-test", "StorageDirectory": storage,
                "IndexDirectory": storage, "HttpPort": self.http,
                "DicomPort": self.dicom, "DicomAet": "ORTHANC",
                "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
                "HttpsVerifyPeers": False, "Plugins": [plugin],
                "ConcurrentJobs": 1, "HttpThreadsCount": 4,
                "NoduleId": {"Model": model, "Threads": 2,
                             "DataDirectory": os.path.join(work, "noduleid")}},
                f, indent=1)
        self.url = "http://127.0.0.1:%d" % self.http
        self.proc = None

    def start(self):
        logf = open(os.path.join(self.work, "orthanc.log"), "a")
        self.proc = subprocess.Popen([self.exe, "--verbose", self.cfg],
                                     stdout=logf, stderr=subprocess.STDOUT,
                                     cwd=self.work)
        procs.append(self.proc)
        t0 = time.time()
        while time.time() - t0 < 60:
            if self.proc.poll() is not None:
                raise SystemExit("Orthanc exited at start (rc %d); see %s"
                                 % (self.proc.returncode, logf.name))
            try:
                self.get("/system")
                return time.time() - t0
            except OSError:
                time.sleep(0.2)
        raise SystemExit("Orthanc did not answer within 60 s")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)
        procs.remove(self.proc)

    def alive(self):
        assert self.proc.poll() is None, "Orthanc died"
        self.get("/system")

    def req(self, method, path, body=None, ctype="application/json"):
        data = body if isinstance(body, (bytes, type(None))) else \
            body.encode()
        r = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            r.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(r, timeout=300) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def get(self, path):
        r = urllib.request.urlopen(self.url + path, timeout=30)
        return json.loads(r.read())


def partition(groups):
    return sorted(sorted(g) for g in groups)


def expect_error(o, method, path, body, status, words):
    st, out = o.req(method, path, body)
    assert st == status, "%s %s: HTTP %d, expected %d: %s" % (
        method, path, st, status, out[:400])
    try:
        msg = json.loads(out)["error"]
    except ValueError:
        raise AssertionError("%s %s: error body is not JSON: %r"
                             % (method, path, out[:200]))
    for w in words:
        assert w in msg, "%s %s: error %r does not mention %r" % (
            method, path, msg, w)
    log("HTTP %d as expected: %s" % (st, msg[:160]))
    o.alive()


def store_bad_instances(pdicom, work, u, storescu, port):
    """Send two bad instances into study u (phantom.dicom.convert's uids)
    through storescu: a CT instance (SOP Instance UID <study>.77.1) and a
    US multi-frame instance whose pixel data is cut short, 4 frames of
    64x64 announced, 1.2 sent (<study>.78.1). Returns their UIDs."""
    import numpy as np
    import pydicom
    bad = os.path.join(work, "bad")
    os.makedirs(bad)
    ids = {"patient": u["patient_id"], "study": u["study"],
           "series": u["study"] + ".77", "sop": u["study"] + ".77.1",
           "date": u["date"], "series_number": 77}
    ct = os.path.join(bad, "ct.dcm")
    pdicom.write_instance(ct, np.zeros((1, 64, 64), np.uint8), 0, ids,
                          modality="CT", sop_class="1.2.840.10008.5.1.4.1.1.2")
    ids = dict(ids, series=u["study"] + ".78", sop=u["study"] + ".78.1",
               series_number=78)
    corrupt = os.path.join(bad, "corrupt.dcm")
    pdicom.write_instance(corrupt, np.zeros((4, 64, 64), np.uint8), 25, ids)
    ds = pydicom.dcmread(corrupt)
    ds.PixelData = ds.PixelData[:5000]     # 4 frames announced, 1.2 sent
    ds.save_as(corrupt)
    subprocess.run([storescu, "-aec", "ORTHANC", "127.0.0.1", str(port),
                    ct, corrupt], check=True, stdout=subprocess.DEVNULL)
    return u["study"] + ".77.1", u["study"] + ".78.1"


def main():
    ap = argparse.ArgumentParser()
    for a in ("plugin", "cli", "orthanc", "storescu", "model", "exam",
              "real-dicom", "work"):
        ap.add_argument("--" + a, default="")
    a = ap.parse_args()
    if not a.orthanc or not os.path.exists(a.orthanc):
        log("SKIP: Orthanc is not installed (apt-get install orthanc)")
        return SKIP
    if not a.storescu or not os.path.exists(a.storescu):
        log("SKIP: storescu is not installed (apt-get install dcmtk)")
        return SKIP
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
    from phantom import dicom as pdicom

    work = a.work
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    # Two studies of one phantom patient: E1 and a follow-up (same loops,
    # later date, new UIDs).
    d1, d2 = os.path.join(work, "study1"), os.path.join(work, "study2")
    u1 = pdicom.convert(a.exam, d1, "20260106", seed="s1")
    u2 = pdicom.convert(a.exam, d2, "20260706", seed="s2")

    # The reference: `noduleid group` on the same DICOM files.
    t0 = time.time()
    cli = json.loads(subprocess.run(
        [a.cli, "group", os.path.join(d1, "exam.json"), "--model", a.model,
         "--json", "--quiet", "--threads", "2"], check=True,
        stdout=subprocess.PIPE).stdout)
    t_cli = time.time() - t0
    want = partition(n["tracklets"] for n in cli["nodules"])

    o = Orthanc(a.orthanc, a.plugin, work, a.model)
    log("Orthanc up in %.1f s (HTTP %d, DICOM %d)" % (o.start(), o.http,
                                                       o.dicom))
    plugins = o.get("/plugins")
    assert "noduleid" in plugins, "plugin not loaded: %s" % plugins

    # study 1 through C-STORE, study 2 through the REST API
    subprocess.run([a.storescu, "-aec", "ORTHANC", "127.0.0.1", str(o.dicom)]
                   + sorted(glob.glob(os.path.join(d1, "*.dcm"))), check=True)
    for f in sorted(glob.glob(os.path.join(d2, "*.dcm"))):
        with open(f, "rb") as fh:
            st, _ = o.req("POST", "/instances", fh.read(),
                          "application/dicom")
        assert st == 200, "REST upload of %s: HTTP %d" % (f, st)
    studies = {}
    for sid in o.get("/studies"):
        s = o.get("/studies/" + sid)
        studies[s["MainDicomTags"]["StudyInstanceUID"]] = sid
    s1, s2 = studies[u1["study"]], studies[u2["study"]]

    with open(os.path.join(d1, "body.json")) as f:
        body1 = f.read()
    with open(os.path.join(d2, "body.json")) as f:
        body2 = f.read()

    # errors first on a study not yet grouped
    expect_error(o, "GET", "/noduleid/studies/%s/group" % s1, None, 404,
                 ["not been grouped"])

    t0 = time.time()
    st, out = o.req("POST", "/noduleid/studies/%s/group" % s1, body1)
    t_rest = time.time() - t0
    assert st == 200, "group study 1: HTTP %d: %s" % (st, out[:600])
    r1 = json.loads(out)
    got = partition(n["tracklets"] for n in r1["nodules"])
    assert got == want, "plugin groups %s != noduleid group %s" % (got, want)
    assert all(n["follow_up"] is None for n in r1["nodules"])
    log("study 1: %d nodules, equal to `noduleid group`; REST %.2f s, CLI on "
        "files %.2f s" % (r1["n_nodules"], t_rest, t_cli))

    st, out = o.req("GET", "/noduleid/studies/%s/group" % s1)
    assert st == 200 and json.loads(out) == r1, "stored result differs"

    # the follow-up study: every nodule matches the earlier exam's
    st, out = o.req("POST", "/noduleid/studies/%s/group" % s2, body2)
    assert st == 200, "group study 2: HTTP %d: %s" % (st, out[:600])
    r2 = json.loads(out)
    for n in r2["nodules"]:
        fu = n["follow_up"]
        assert fu and fu["exam_id"] == u1["study"] and \
            fu["label"] == n["label"] and fu["date"] == "2026-01-06", \
            "follow-up of %s: %s" % (n["label"], fu)
    log("study 2: each of %d nodules matched to study 1's"
        % r2["n_nodules"])

    # restart: stored results and gallery survive
    o.stop()
    o.start()
    st, out = o.req("GET", "/noduleid/studies/%s/group" % s1)
    assert st == 200 and json.loads(out) == r1, "result lost on restart"
    g = o.get("/noduleid/patients/%s/gallery" % u1["patient_id"])
    exams = sorted({e["exam_id"] for e in g["entries"]})
    assert exams == sorted([u1["study"], u2["study"]]), g
    assert len(g["entries"]) == r1["n_nodules"] + r2["n_nodules"], g
    # grouping a study again replaces its own gallery entries
    st, out = o.req("POST", "/noduleid/studies/%s/group" % s2, body2)
    assert st == 200 and json.loads(out)["nodules"][0]["follow_up"]
    g = o.get("/noduleid/patients/%s/gallery" % u1["patient_id"])
    assert len(g["entries"]) == r1["n_nodules"] + r2["n_nodules"], g
    log("restart: result and gallery (%d entries) kept" % len(g["entries"]))

    # ---- bad input: clear HTTP errors, Orthanc stays up ----------------
    grp = "/noduleid/studies/%s/group" % s1
    expect_error(o, "POST", grp, "{not json", 400, ["not valid JSON"])
    expect_error(o, "POST", grp, "", 400, ["not valid JSON"])
    expect_error(o, "POST", grp, '{"format": "noduleid-exam", "version": 1}',
                 400, ["videos"])
    b = json.loads(body1)
    b["videos"][0]["tracklets"][0]["key_frames"][0]["box"] = "big"
    expect_error(o, "POST", grp, json.dumps(b), 400,
                 ["videos[0].tracklets[0].key_frames[0].box"])
    b = json.loads(body1)
    b["videos"][1]["path"] = "1.2.3.4.5.404"
    expect_error(o, "POST", grp, json.dumps(b), 404,
                 ["1.2.3.4.5.404", "not in study"])
    b = json.loads(body1)
    b["videos"][0]["path"] = u2["instances"]["v0"]   # another study's
    expect_error(o, "POST", grp, json.dumps(b), 404, ["not in study"])
    b = json.loads(body1)
    b["videos"][0]["n_frames"] = 100000
    b["videos"][0]["tracklets"][0]["key_frames"][-1]["frame"] = 99999
    b["videos"][0]["tracklets"][0]["end"] = 99999
    st, out = o.req("POST", grp, json.dumps(b))
    assert 400 <= st < 500, "frames past the loop: HTTP %d %s" % (st, out)
    log("HTTP %d as expected: %s" % (st, json.loads(out)["error"][:160]))
    expect_error(o, "POST", "/noduleid/studies/0000-nope/group", body1, 404,
                 ["0000-nope"])
    st, _ = o.req("PUT", grp, body1)
    assert st == 405, "PUT: HTTP %d" % st

    # a non-ultrasound instance and a corrupt ultrasound instance in study 1
    store_bad_instances(pdicom, work, u1, a.storescu, o.dicom)
    b = json.loads(body1)
    b["videos"][0]["path"] = u1["study"] + ".77.1"
    expect_error(o, "POST", grp, json.dumps(b), 400,
                 ["not ultrasound", "CT"])
    b = json.loads(body1)
    b["videos"][2]["path"] = u1["study"] + ".78.1"
    b["videos"][2]["width"] = 64
    b["videos"][2]["height"] = 64
    b["videos"][2]["n_frames"] = 4
    b["videos"][2]["tracklets"] = [{"id": "c0", "start": 0, "end": 3,
                                    "key_frames": [
                                        {"frame": 0, "box": [8, 8, 32, 32]},
                                        {"frame": 3, "box": [8, 8, 32, 32]}]}]
    st, out = o.req("POST", grp, json.dumps(b))
    # a truncated multi-frame instance: either a frame fails to decode, or
    # (frame count taken from the pixel data) the tracklet runs past the
    # frames that are there; the message names the tracklet and the video
    assert st == 400 and b"c0" in out and (
        b"decode" in out or b"but the video has 1 frames" in out), \
        "corrupt instance: HTTP %d %s" % (st, out[:300])
    log("HTTP %d as expected: %s" % (st, json.loads(out)["error"][:200]))
    o.alive()
    # the earlier result is untouched by failed requests
    st, out = o.req("GET", grp)
    assert st == 200 and json.loads(out) == r1

    # ---- real ultrasound loops, when the shared data is there ---------
    real = sorted(glob.glob(os.path.join(a.real_dicom, "*.dcm")))
    if not real:
        log("SKIP part: no real DICOM loops in %s (shared data absent)"
            % a.real_dicom)
    else:
        for f in real:
            with open(f, "rb") as fh:
                st, out = o.req("POST", "/instances", fh.read(),
                                "application/dicom")
            assert st == 200, "upload %s: HTTP %d" % (f, st)
            inst = json.loads(out)
            tags = o.get("/instances/%s/simplified-tags" % inst["ID"])
            study = inst["ParentStudy"]
            n = int(tags.get("NumberOfFrames", 1))
            w, h = int(tags["Columns"]), int(tags["Rows"])
            body = {"format": "noduleid-exam", "version": 1, "videos": [{
                "id": "r0", "path": tags["SOPInstanceUID"], "tracklets": [
                    {"id": "a", "start": 0, "end": n - 1, "key_frames": [
                        {"frame": 0, "box": [w / 4, h / 4, w / 3, h / 3]},
                        {"frame": n - 1, "box": [w / 4, h / 4, w / 3, h / 3]}]},
                    {"id": "b", "start": 0, "end": n - 1, "key_frames": [
                        {"frame": 0, "box": [w / 2, h / 2, w / 3, h / 3]},
                        {"frame": n - 1, "box": [w / 2, h / 2, w / 3, h / 3]}]}
                ]}]}
            st, out = o.req("POST", "/noduleid/studies/%s/group" % study,
                            json.dumps(body))
            assert st == 200, "real %s: HTTP %d %s" % (f, st, out[:400])
            fu = json.loads(out)["follow_up_gallery"]
            if not tags.get("PatientID") or not tags.get("StudyDate"):
                assert fu.startswith("not kept: the study has no"), fu
            else:
                assert fu == "kept", fu
            log("real %s (%d frames %dx%d): %d nodule(s)" % (
                os.path.basename(f), n, w, h, json.loads(out)["n_nodules"]))
    o.alive()
    o.stop()
    log("OK")
    return 0


if __name__ == "__main__":
    try:
        rc = main()
    finally:
        stop_all()
    sys.exit(rc)
