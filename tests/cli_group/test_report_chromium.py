"""The HTML report of `noduleid group --report DIR`, rendered by headless
Chromium (Debian's `chromium`).

The screenshot must not be blank and must show every nodule: each nodule
row carries a 48 x 48 swatch of the nodule's colour (listed in
result.json), and the test finds a solid 40 x 40 block of every one of
those colours in the screenshot PNG -- and not of a colour that no nodule
has, so the check can fail. The page records on <body>, once loaded, how
many of its images loaded; Chromium's --dump-dom shows that every
thumbnail and the heat map loaded, and that a deleted thumbnail is
reported as broken.

Run by ctest (test `cli_report_chromium`, full unsanitized build only).
"""
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from nidcli import SAMPLE, run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(tmp_path, *args):
    assert CHROMIUM, "chromium is needed (scripts/install-deps.sh installs it)"
    profile = tmp_path / "chromium-profile"
    cmd = [CHROMIUM, "--headless", "--disable-gpu", "--no-first-run",
           "--no-default-browser-check", "--hide-scrollbars",
           "--force-color-profile=srgb", "--force-device-scale-factor=1",
           "--user-data-dir=%s" % profile, *args]
    if os.geteuid() == 0:
        cmd.insert(1, "--no-sandbox")  # Chromium refuses root otherwise
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout


def solid_block(img, rgb, size=40):
    """Is there a size x size square of exactly `rgb` in img (H x W x 3)?"""
    m = np.all(img == np.array(rgb, np.uint8), axis=2).astype(np.int32)
    if m.sum() < size * size:
        return False
    s = np.zeros((m.shape[0] + 1, m.shape[1] + 1), np.int64)
    s[1:, 1:] = m.cumsum(0).cumsum(1)
    win = (s[size:, size:] - s[:-size, size:] - s[size:, :-size] +
           s[:-size, :-size])
    return bool((win == size * size).any())


def hex_rgb(h):
    return tuple(int(h[i:i + 2], 16) for i in (1, 3, 5))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    out = d / "report"
    # tau 0: no two tracklets link, whatever the model, so every one of the
    # 11 tracklets is a nodule of its own: 11 swatches to find
    run("group", SAMPLE, "--threshold", 0, "--report", out, "--quiet",
        timeout=300)
    res = json.loads((out / "result.json").read_text())
    return d, out, res


def test_report_files(report):
    d, out, res = report
    n = len(res["tracklets"])
    assert n == 11 and res["n_nodules"] == 11
    html = (out / "index.html").read_text()
    # self-contained: no URL leaves the folder
    assert not re.search(r'(src|href)="(https?:|//|/)', html)
    colours = re.findall(r'class="nodule" id="N\d+" data-colour="(#[0-9a-f]{6})"',
                         html)
    assert colours == [nj["colour"] for nj in res["nodules"]]
    assert len(set(colours)) == len(colours)
    for t in res["tracklets"]:
        png = out / ("tracklet-%03d.png" % t["index"])
        im = np.asarray(Image.open(png).convert("RGB"))
        # the box is drawn in the tracklet's nodule colour
        rgb = hex_rgb(res["nodules"][t["cluster"]]["colour"])
        assert np.all(im == rgb, axis=2).sum() >= 20, png
        w, h = Image.open(png).size
        assert 'src="tracklet-%03d.png" width="%d" height="%d"' % (
            t["index"], w, h) in html
    hm = Image.open(out / "similarity.png")
    assert hm.size[0] == hm.size[1] > 11


def test_report_renders_every_nodule(report, tmp_path):
    d, out, res = report
    k = res["n_nodules"]
    shot = tmp_path / "shot.png"
    chromium(tmp_path, "--screenshot=%s" % shot,
             "--window-size=1280,%d" % (400 + 200 * k),
             "--virtual-time-budget=10000", (out / "index.html").as_uri())
    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape[1] == 1280
    # not blank: many colours, not mostly one
    flat = img.reshape(-1, 3)
    values, counts = np.unique(flat, axis=0, return_counts=True)
    assert len(values) > 200
    assert counts.max() / len(flat) < 0.9
    for nj in res["nodules"]:
        assert solid_block(img, hex_rgb(nj["colour"])), \
            "no swatch of %s (%s) in the screenshot" % (nj["label"],
                                                       nj["colour"])
    # the check can fail: the colour a 12th nodule would get is nowhere
    assert not solid_block(img, hex_rgb("#9a6324"))
    assert not solid_block(img, (0x12, 0x34, 0x56))


def dom(tmp_path, page):
    html = chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom",
                    page.as_uri())
    body = re.search(r"<body([^>]*)>", html).group(1)
    return dict(re.findall(r'(data-images[-a-z]*)="([^"]*)"', body))


def test_report_thumbnails_load(report, tmp_path):
    d, out, res = report
    n = len(res["tracklets"])
    a = dom(tmp_path, out / "index.html")
    assert a["data-images"] == str(n + 1)          # thumbnails + heat map
    assert a["data-images-loaded"] == str(n + 1)
    assert a["data-images-broken"] == ""
    # without one of its PNGs the page says so
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    os.remove(broken / "tracklet-004.png")
    a = dom(tmp_path, broken / "index.html")
    assert a["data-images-loaded"] == str(n)
    assert a["data-images-broken"] == "tracklet-004.png"
