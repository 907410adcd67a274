"""Scales and difficulty knobs.

A scale is a dict of knobs; every knob can be overridden from the command
line with --set name=value (JSON value).  The knobs actually used are written
to the dataset's meta, so a dataset documents how it was made.
"""

import copy
import difflib
import json

# Defaults shared by all scales.
BASE = {
    # geometry / video
    "width": 320, "height": 240, "px_mm": 0.15, "fps": 25.0,
    "codec": "h264",            # h264 (libx264 yuv420p mp4) or ffv1 (lossless gray mkv)
    "crf": 26,                  # libx264 quality (superfast preset)
    # cohort
    "patients": 6,
    "nodules_probs": [0.25, 0.35, 0.25, 0.15],   # P(1..4 nodules per patient)
    "total_nodules": None,      # if set, exact total (overrides nodules_probs)
    "visits_per_nodule": 3.2,   # mean planned tracklets per nodule (>= 1)
    "visits_per_video": [0.3, 0.35, 0.25, 0.10],  # P(1..4 visits in one video)
    "p_pair_visit": 0.5,        # per patient with close nodules: add a visit showing two
    # tracklet lengths (frames): lognormal(median, sigma) clipped to [min, cap]
    "len_median": 24.0, "len_sigma": 0.8, "len_min": 4, "len_cap": 200,
    # ground truth rules
    "min_len": 4,               # minimum tracklet length (frames)
    "vis_frac": 0.15,           # visible if cross-section >= this x max cross-section
    "min_area_mm2": 2.0,        # ... and at least this many mm^2
    "gap_fill": 2,              # merge runs split by <= this many low-area frames
    "kf_iou": 0.7,              # key frame when IoU with last key frame drops below
    "kf_area": 0.35,            # ... or the area changes by this fraction
    "kf_shape": 0.2,            # ... or the mask eccentricity changes by this much
    # difficulty knobs
    "similarity": 0.8,          # 0 = nodules of a patient independent, 1 = same traits
    "p_near": 0.5,              # probability a nodule is placed near another one
    "level_jitter": 0.15,       # patient-to-patient tissue echo level spread (log)
    "attenuation": 0.07,        # mean amplitude attenuation, 1/mm round trip
    "dynamic_range_db": [38.0, 48.0],
    "psf_axial_mm": 0.13, "psf_lateral_mm": 0.34, "psf_mod_mm": 0.55,
    "jitter_mm": 0.15, "jitter_deg": 0.5, "breathing_mm": [0.2, 1.0],
    "max_compression": 0.15,
    "splits": [0.8, 0.1, 0.1],
    "split_counts": None,       # exact patient counts per split (train, val, test)
}

SCALES = {
    # the repo's demo: one patient, 3 nodules, 4 short videos, a few MB
    "sample": {"patients": 1, "nodules_probs": [0, 0, 1, 0], "visits_per_nodule": 2.0,
               "len_median": 30.0, "len_sigma": 0.5, "len_cap": 80, "crf": 28,
               "visits_per_video": [0.5, 0.5, 0.0, 0.0], "splits": [0, 0, 1]},
    # CI smoke: seconds
    "ci": {"patients": 3, "nodules_probs": [0.0, 0.5, 0.5, 0.0], "visits_per_nodule": 2.0,
           "len_median": 10.0, "len_sigma": 0.5, "len_cap": 30, "len_min": 4},
    # tests / demo
    "small": {"patients": 6, "len_median": 16.0, "len_sigma": 0.6, "len_cap": 80},
    # training set a 2-core CPU can train on in an hour (8x128x64 clips)
    "train": {"patients": 300, "nodules_probs": [0.4, 0.3, 0.2, 0.1],
              "visits_per_nodule": 2.5, "len_median": 16.0, "len_sigma": 0.7,
              "len_cap": 120, "min_len": 8, "len_min": 8},
    # the method paper's dataset size (Table 2) and tracklet length spread (Fig. 3)
    "paper": {"patients": 787, "total_nodules": 885, "visits_per_nodule": 2.9,
              "len_median": 36.0, "len_sigma": 1.1, "len_min": 1, "len_cap": 2122,
              "min_len": 1, "split_counts": [623, 76, 88]},
}


def _knob_type(default):
    """(test, words) for a value replacing knob value `default`, or None
    when any value goes (a knob that defaults to None)."""
    def num(x):
        return isinstance(x, (int, float)) and not isinstance(x, bool)
    if isinstance(default, bool):
        return (lambda x: isinstance(x, bool)), "true or false"
    if isinstance(default, int):
        return (lambda x: isinstance(x, int) and not isinstance(x, bool)), "an integer"
    if isinstance(default, float):
        return num, "a number"
    if isinstance(default, str):
        return (lambda x: isinstance(x, str)), "a word"
    if isinstance(default, list):
        return (lambda x: isinstance(x, list) and all(num(y) for y in x)), \
            "a list of numbers like %s" % json.dumps(default)
    return None


def make_config(scale, overrides=None):
    if scale not in SCALES:
        raise ValueError("unknown scale %r (known: %s)" % (scale, ", ".join(SCALES)))
    cfg = copy.deepcopy(BASE)
    cfg.update(copy.deepcopy(SCALES[scale]))
    for k, v in (overrides or {}).items():
        if k not in cfg:
            close = difflib.get_close_matches(k, sorted(cfg), n=1)
            raise ValueError("unknown knob %r%s (the knobs are in phantom/config.py)"
                             % (k, "; did you mean '%s'?" % close[0] if close else ""))
        want = _knob_type(cfg[k])
        if want and not want[0](v):
            raise ValueError("--set %s=%s: %s takes %s (the %s scale's is %s)"
                             % (k, json.dumps(v), k, want[1], scale, json.dumps(cfg[k])))
        cfg[k] = v
    cfg["scale"] = scale
    return cfg


def parse_set(items):
    out = {}
    for it in items or []:
        if "=" not in it:
            raise ValueError("--set expects name=value, got %r" % it)
        k, v = it.split("=", 1)
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out
