"""phantom - synthetic breast ultrasound exams with nodule ground truth.

Deterministic from a seed: the same (scale, seed, knobs) gives byte-identical
annotations and identical decoded frames.  See phantom/README.md.
"""

__version__ = "1.0.0"
GENERATOR = "noduleid-phantom"
