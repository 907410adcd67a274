"""Backend modules (issue 14): importing the binding and clustering loads
no libtorch or FFmpeg; missing modules give NotSupportedError naming the
module; the modules are found next to the installed library. Each case
runs in a fresh interpreter, as modules load once per process."""
import os
import subprocess
import sys
import textwrap

import pytest

SAMPLE_VIDEO = os.path.join(os.environ.get("NID_SOURCE_DIR", ""), "examples",
                            "sample-exam", "P0001", "v0.mp4")


def run_py(code, env=None):
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=e,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_import_and_cluster_load_no_backend():
    out = run_py("""
        import numpy as np, noduleid
        x = np.random.default_rng(0).standard_normal((20, 32)).astype(np.float32)
        noduleid.cluster(x)
        maps = open("/proc/self/maps").read()
        bad = [n for n in ("libtorch", "libc10", "libavcodec", "libdcmdata",
                           "libnoduleid-") if n in maps]
        assert not bad, bad
        assert noduleid.features(load=False) <= {"blas"}
        print("ok", noduleid.backend_dir())
    """)
    # found next to the library the extension loaded
    assert out.split()[1].endswith("/noduleid-0"), out


def test_missing_modules(tmp_path):
    run_py("""
        import noduleid, sys
        try:
            noduleid.Model.load("/proc/self/exe")
        except noduleid.NotSupportedError as e:
            assert "libnoduleid-torch.so" in str(e) or "NID_WITH_TORCH=OFF" in str(e), e
        else:
            sys.exit("model loaded without modules")
        try:
            noduleid.load_backend("ffmpeg")
        except noduleid.NotSupportedError as e:
            assert "libnoduleid-ffmpeg.so" in str(e) or "NID_WITH_VIDEO=OFF" in str(e), e
        else:
            sys.exit("ffmpeg loaded from an empty directory")
        assert noduleid.features() <= {"blas"}, noduleid.features()
        assert noduleid.backend_dir() == %r
    """ % str(tmp_path), env={"NODULEID_BACKEND_DIR": str(tmp_path)})


def test_modules_found_from_installed_library():
    if "video" not in noduleid_features_built():
        pytest.skip("built without FFmpeg")
    run_py("""
        import noduleid
        noduleid.load_backend("ffmpeg")
        assert "video" in noduleid.features(load=False)
        v = noduleid.Video.open(%r)
        assert v.info.n_frames > 0
        assert "libtorch" not in open("/proc/self/maps").read()
    """ % SAMPLE_VIDEO)


def noduleid_features_built():
    import noduleid
    from noduleid._noduleid import lib
    bits = lib.nid_features_ex(lib.NID_FEATURES_BUILT)
    return {n for n, b in noduleid._FEATURES.items() if bits & b}
