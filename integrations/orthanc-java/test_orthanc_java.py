#!/usr/bin/python3
"""ctest orthanc_java_client: the Java PACS client against a real Orthanc.

Starts Orthanc on loopback with HTTP authentication (the harness of
integrations/orthanc/test_orthanc.py: temporary config and storage, free
ports, the built plugin when there is one), sends a phantom patient's study
through storescu, runs `java -jar noduleid-orthanc.jar` on it, and checks
that its groups equal `noduleid group` on the same DICOM files and the
plugin's answer, that the result it stored (study attachment 4243) reads
back and survives a restart, and that the expected failures (unknown study,
instance not in the study, non-ultrasound instance, truncated pixel data,
wrong password, no credentials, unreachable server) exit non-zero with one
clear line on stderr and no stack trace. Exit 77 (skip) only when Orthanc,
storescu or java is missing.
"""
import argparse
import atexit
import base64
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "orthanc"))
import test_orthanc as harness  # noqa: E402  (Orthanc, free_port, stop_all)

SKIP = 77
USER, PASSWORD = "noduleid", "s3cret"


def log(*a):
    print("orthanc_java_client:", *a, flush=True)


class AuthHeader(urllib.request.BaseHandler):
    """Basic credentials on every request of the harness's urllib calls."""
    def __init__(self, user, pw):
        self.value = "Basic " + base64.b64encode(
            ("%s:%s" % (user, pw)).encode()).decode()

    def http_request(self, req):
        req.add_unredirected_header("Authorization", self.value)
        return req


def main():
    ap = argparse.ArgumentParser()
    for a in ("java", "jar", "plugin", "cli", "orthanc", "storescu", "model",
              "exam", "work"):
        ap.add_argument("--" + a, default="")
    a = ap.parse_args()
    for what, path, pkg in (("Orthanc", a.orthanc, "orthanc"),
                            ("storescu", a.storescu, "dcmtk"),
                            ("java", a.java, "default-jdk-headless")):
        if not path or not os.path.exists(path):
            log("SKIP: %s is not installed (apt-get install %s)" % (what, pkg))
            return SKIP
    for k in ("jar", "plugin", "cli", "model", "exam", "work"):
        if getattr(a, k):            # Orthanc runs in `work`
            setattr(a, k, os.path.abspath(getattr(a, k)))
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
    from phantom import dicom as pdicom

    work = a.work
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    atexit.register(harness.stop_all)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    d1 = os.path.join(work, "study1")
    u1 = pdicom.convert(a.exam, d1, "20260106", seed="java1")
    body = os.path.join(d1, "body.json")

    cli = json.loads(subprocess.run(
        [a.cli, "group", os.path.join(d1, "exam.json"), "--model", a.model,
         "--json", "--quiet", "--threads", "2"], check=True,
        stdout=subprocess.PIPE).stdout)
    want = harness.partition(n["tracklets"] for n in cli["nodules"])

    o = harness.Orthanc(a.orthanc, a.plugin or "", work, a.model)
    with open(o.cfg) as f:
        cfg = json.load(f)
    cfg["AuthenticationEnabled"] = True
    cfg["RegisteredUsers"] = {USER: PASSWORD}
    cfg["Plugins"] = [a.plugin] if a.plugin else []
    with open(o.cfg, "w") as f:
        json.dump(cfg, f, indent=1)
    urllib.request.install_opener(
        urllib.request.build_opener(AuthHeader(USER, PASSWORD)))
    log("Orthanc up in %.1f s (HTTP %d, DICOM %d, authentication on)"
        % (o.start(), o.http, o.dicom))

    if a.plugin:
        assert "noduleid" in o.get("/plugins"), "plugin %s not loaded" % a.plugin
    subprocess.run([a.storescu, "-aec", "ORTHANC", "127.0.0.1", str(o.dicom)]
                   + sorted(glob.glob(os.path.join(d1, "*.dcm"))), check=True,
                   stdout=subprocess.DEVNULL)
    sid = [s for s in o.get("/studies")
           if o.get("/studies/" + s)["MainDicomTags"]["StudyInstanceUID"]
           == u1["study"]][0]

    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")

    def client(study, exam=body, user=USER, pw=PASSWORD, url=None, extra=()):
        cmd = [a.java, "-jar", a.jar, "--orthanc", url or o.url,
               "--study", study, "--exam", exam, "--model", a.model,
               "--threads", "2"] + list(extra)
        if user is not None:
            cmd += ["--user", user, "--password", pw]
        t0 = time.time()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env, timeout=240)
        return p.returncode, p.stdout.decode(), p.stderr.decode(), \
            time.time() - t0

    def expect_fail(words, **kw):
        rc, out, err, _ = client(**kw)
        lines = err.strip().splitlines()
        assert rc != 0, "expected a failure (%s), got rc 0: %s" % (words, out)
        assert len(lines) == 1 and lines[0].startswith(
            "noduleid-orthanc: error: "), "not one error line: %r" % err
        assert "Exception" not in err and "\tat " not in err, err
        for w in words:
            assert w in lines[0], "%r does not mention %r" % (lines[0], w)
        log("rc %d as expected: %s" % (rc, lines[0][:170]))

    # ---- the study, by StudyInstanceUID (looked up) ----------------------
    rc, out, err, t_java = client(u1["study"])
    assert rc == 0, "client rc %d: %s" % (rc, err)
    r = json.loads(out)
    assert r["format"] == "noduleid-orthanc-java-group" and r["study"] == sid
    got = harness.partition(n["tracklets"] for n in r["nodules"])
    assert got == want, "Java client %s != noduleid group %s" % (got, want)
    assert sorted(t["id"] for t in r["tracklets"]) == \
        sorted(t for g in want for t in g)
    # the network loads in the background while the first video is fetched
    tm = r["timings"]
    assert 0 <= tm["model_wait_s"] <= tm["group_s"] <= tm["total_s"], tm
    log("Java client: %d nodules, equal to `noduleid group` (%.1f s, JVM "
        "start included)" % (r["n_nodules"], t_java))
    # frame by frame (frames/{n}/raw): the same bytes, the same groups
    rc, out, err, _ = client(sid, extra=["--per-frame", "--no-store"])
    assert rc == 0, "client --per-frame rc %d: %s" % (rc, err)
    rp = json.loads(out)
    assert harness.partition(n["tracklets"] for n in rp["nodules"]) == got
    assert rp["timings"]["fetched_bytes"] == r["timings"]["fetched_bytes"]
    assert rp["stored_as"] is None
    log("--per-frame: same groups, same %d bytes fetched"
        % rp["timings"]["fetched_bytes"])

    if a.plugin:
        with open(body) as f:
            st, pout = o.req("POST", "/noduleid/studies/%s/group" % sid,
                             f.read())
        assert st == 200, "plugin: HTTP %d %s" % (st, pout[:300])
        pr = json.loads(pout)
        pg = harness.partition(n["tracklets"] for n in pr["nodules"])
        assert pg == got, "plugin %s != Java client %s" % (pg, got)
        log("plugin's answer has the same %d nodules" % pr["n_nodules"])
    else:
        log("SKIP part: the Orthanc plugin is not built (orthanc-dev "
            "missing): no comparison with its answer")

    # ---- the stored result: read back, survives a restart ----------------
    att = "/studies/%s/attachments/4243/data" % sid
    assert r["stored_as"] == att, r["stored_as"]
    st, stored = o.req("GET", att)
    assert st == 200 and json.loads(stored) == r, "stored result differs"
    o.stop()
    o.start()
    st, stored = o.req("GET", att)
    assert st == 200 and json.loads(stored) == r, "result lost on restart"
    if a.plugin:     # the plugin's own attachment (4242) is untouched
        st, pout = o.req("GET", "/noduleid/studies/%s/group" % sid)
        assert st == 200 and json.loads(pout) == pr
    log("stored result (attachment 4243) read back after a restart")

    # ---- expected failures: one line, non-zero exit, no stack trace ------
    expect_fail(["1.2.3.4.404", "not in Orthanc"], study="1.2.3.4.404")
    expect_fail(["401", "wrong --user or --password"], study=sid,
                pw="nope")
    expect_fail(["401", "give --user and --password"], study=sid, user=None)
    expect_fail(["cannot reach Orthanc"], study=sid,
                url="http://127.0.0.1:%d" % harness.free_port())
    b = json.load(open(body))
    b["videos"][1]["path"] = "1.2.3.4.5.404"
    bad_body = os.path.join(work, "bad-body.json")
    json.dump(b, open(bad_body, "w"))
    expect_fail(["videos[1]", "1.2.3.4.5.404", "not in study"], study=sid,
                exam=bad_body)

    import warnings
    warnings.filterwarnings("ignore", module="pydicom")  # the long test UIDs
    ct_uid, corrupt_uid = harness.store_bad_instances(pdicom, work, u1,
                                                      a.storescu, o.dicom)
    b = json.load(open(body))
    b["videos"][0]["path"] = ct_uid
    json.dump(b, open(bad_body, "w"))
    expect_fail(["videos[0]", "not ultrasound", "Modality CT"], study=sid,
                exam=bad_body)
    b = json.load(open(body))
    b["videos"][2].update(path=corrupt_uid, width=64, height=64,
                          n_frames=4, tracklets=[{
                              "id": "c0", "start": 0, "end": 3, "key_frames": [
                                  {"frame": 0, "box": [8, 8, 32, 32]},
                                  {"frame": 3, "box": [8, 8, 32, 32]}]}])
    json.dump(b, open(bad_body, "w"))
    # as the library's reader (and the plugin): the loop has the 1 frame its
    # pixel data holds, and the tracklet running past it is the library's
    # error; frame by frame, Orthanc itself cannot cut frame 0 out
    expect_fail(["tracklet 'c0' (video 'v2')", "but the video has 1 frames"],
                study=sid, exam=bad_body)
    expect_fail(["videos[2]", "frame 0 of 4", "Bad file format"], study=sid,
                exam=bad_body, extra=["--per-frame"])
    # failures store nothing over the earlier result
    st, stored = o.req("GET", att)
    assert st == 200 and json.loads(stored) == r
    o.alive()
    o.stop()
    log("OK")
    return 0


if __name__ == "__main__":
    try:
        rc = main()
    finally:
        harness.stop_all()
    sys.exit(rc)
