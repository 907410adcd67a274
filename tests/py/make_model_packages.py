#!/usr/bin/python3
"""make_model_packages.py OUTDIR - the model packages of the tests (ctest
fixture nid_models), made with the project's exporter
(training/noduleid_models/export.py), random weights (seeded):

  cm.nidm          compact classification model, 3 x 4 x 32 x 16, D = 128
  vm.nidm          compact verification model, same input (verify head)
  vm_unfrozen.nidm the VM stored unfrozen (the loader must freeze it and
                   keep verify)
  cm_gray.nidm     1-channel CM, 1 x 4 x 24 x 24, projection to D = 32
  cm_ctx.nidm      CM with context channels (crop.context_margin 0.5, made
                   by the export command line): the network takes 3 + 3
                   channels, 4 x 32 x 16, D = 128

  tiny.nidm        a tiny CM (R(2+1)D blocks of width 4), 3 x 4 x 32 x 16,
                   D = 4: the base of the broken packages below, which keep
                   its network and change its metadata

and broken packages, each with what the loader must report:

  truncated.nidm   first half of tiny.nidm                NID_EFORMAT
  notzip.nidm      a text file                            NID_EFORMAT
  nometa.nidm      TorchScript without noduleid.json      NID_EFORMAT
  badjson.nidm     metadata that is not JSON              NID_EFORMAT
  version.nidm     format_version 2                       NID_EFORMAT format_version
  format.nidm      format "something-else"                NID_EFORMAT format
  type.nidm        input.frames "four"                    NID_EFORMAT input.frames
  range.nidm       embedding.dim 0                        NID_EFORMAT embedding.dim
  missing.nidm     crop.margin absent                     NID_EFORMAT crop.margin
  unknown.nidm     top-level field "colour"               NID_EFORMAT colour
  modelid.nidm     model_id "md5:..."                     NID_EFORMAT model_id
  kind.nidm        CM module, metadata kind verification  NID_EFORMAT verify
  compare.nidm     CM with thresholds.compare "verify"    NID_EFORMAT thresholds.compare
  input.nidm       metadata input 8 frames, network 4     NID_EMISMATCH
  dim.nidm         metadata embedding.dim 64, network 4   NID_EMISMATCH
  norm.nidm        tiny VM (raw embeddings), metadata     NID_EMISMATCH
                   embedding.normalized true
  context.nidm     crop.context_margin 0.5 (6 channels),  NID_EMISMATCH
                   network 3
  context_range.nidm crop.context_margin 17               NID_EFORMAT crop.context_margin
  bf16_range.nidm  producer.bf16.cosine_min "high" (what   NID_EFORMAT producer.bf16.cosine_min
                   precision auto trusts)

Also cm_bf16_broken.nidm: cm.nidm whose bf16 graph is garbage (its recorded
check holds): loads, precision auto and bf16 fall back.
"""
import copy
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import torch  # noqa: E402

from training.noduleid_models import METADATA_NAME, export  # noqa: E402
from training.noduleid_models import models as M  # noqa: E402

SHAPE = dict(frames=4, height=32, width=16)


def make(kind, out, channels=3, embed_dim=None, freeze=True, seed=0, **shape):
    torch.manual_seed(seed)
    model = export.make_model("compact", kind, channels, embed_dim, None, 16)
    export.bn_warmup(model, (channels, shape["frames"], shape["height"], shape["width"]),
                     2, seed)
    return export.export_package(
        model, out, arch="compact", channels=channels, freeze=freeze,
        description="test package: random initialisation (seed %d)" % seed,
        training={"random_init": True, "seed": seed}, **shape)


def resave(src, dst, meta=None, raw=None, more=None):
    """Copy the module of `src` to `dst` with other metadata (a dict, or
    raw text, or None for no metadata at all) and `more` extra files."""
    m = torch.jit.load(src, map_location="cpu")
    extra = dict(more or {})
    if meta is not None:
        extra[METADATA_NAME] = json.dumps(meta)
    if raw is not None:
        extra[METADATA_NAME] = raw
    torch.jit.save(m, dst, _extra_files=extra)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    p = lambda name: os.path.join(out, name)  # noqa: E731

    make("classification", p("cm.nidm"), **SHAPE)
    make("verification", p("vm.nidm"), seed=1, **SHAPE)
    make("verification", p("vm_unfrozen.nidm"), seed=1, freeze=False, **SHAPE)
    make("classification", p("cm_gray.nidm"), channels=1, embed_dim=32, seed=2,
         frames=4, height=24, width=24)
    # the command line's --context-margin (in this process)
    export.main(["--arch", "compact", "--random-init", "--seed", "5", "--frames", "4",
                 "--height", "32", "--width", "16", "--context-margin", "0.5",
                 "--description", "test package: random initialisation (seed 5), "
                 "context channels", "--out", p("cm_ctx.nidm")])

    torch.manual_seed(3)
    tiny = M.ClassificationModel(M.R2Plus1dExtractor((4, 4, 4, 4), (1, 1, 1, 1), 3, 4), 16)
    base = export.export_package(tiny, p("tiny.nidm"), arch="r2plus1d_tiny",
                                 description="test package: tiny random network", **SHAPE)
    with open(p("tiny.nidm"), "rb") as f:
        data = f.read()
    with open(p("truncated.nidm"), "wb") as f:
        f.write(data[: len(data) // 2])
    with open(p("notzip.nidm"), "w") as f:
        f.write("This is not a model package.\n")
    resave(p("tiny.nidm"), p("nometa.nidm"))
    resave(p("tiny.nidm"), p("badjson.nidm"), raw='{"format": "noduleid-model", oops')

    def variant(name, edit):
        meta = copy.deepcopy(base)
        edit(meta)
        resave(p("tiny.nidm"), p(name), meta)

    variant("version.nidm", lambda m: m.update(format_version=2))
    variant("format.nidm", lambda m: m.update(format="something-else"))
    variant("type.nidm", lambda m: m["input"].update(frames="four"))
    variant("range.nidm", lambda m: m["embedding"].update(dim=0))
    variant("missing.nidm", lambda m: m["crop"].pop("margin"))
    variant("unknown.nidm", lambda m: m.update(colour="blue"))
    variant("modelid.nidm", lambda m: m.update(model_id="md5:0123"))
    variant("kind.nidm", lambda m: m.update(kind="verification",
                                            verify={"output": "probability"}))
    variant("compare.nidm", lambda m: m["thresholds"].update(compare="verify"))
    variant("input.nidm", lambda m: m["input"].update(frames=8))
    variant("dim.nidm", lambda m: m["embedding"].update(dim=64))
    variant("context.nidm", lambda m: m["crop"].update(context_margin=0.5))
    variant("context_range.nidm", lambda m: m["crop"].update(context_margin=17))
    variant("bf16_range.nidm", lambda m: m.setdefault("producer", {}).update(
        bf16={"name": "noduleid-bf16.pt", "cosine_min": "high"}))
    # cm.nidm with a bf16 graph that is not one, whose recorded check holds:
    # precision auto and bf16 must fall back (fp32, autocast), not fail
    cm_extra = {METADATA_NAME: ""}
    torch.jit.load(p("cm.nidm"), map_location="cpu", _extra_files=cm_extra)
    bmeta = json.loads(cm_extra[METADATA_NAME])
    bmeta.setdefault("producer", {})["bf16"] = {"name": "noduleid-bf16.pt",
                                                "cosine_min": 1.0}
    resave(p("cm.nidm"), p("cm_bf16_broken.nidm"), bmeta,
           more={"noduleid-bf16.pt": b"not a TorchScript archive"})
    # a tiny VM (raw, unnormalised embeddings) whose metadata says normalised
    torch.manual_seed(4)
    tiny_vm = M.VerificationModel(M.R2Plus1dExtractor((4, 4, 4, 4), (1, 1, 1, 1), 3, 4))
    export.bn_warmup(tiny_vm, (3, 4, 32, 16), 1, 4)
    vmeta = export.export_package(tiny_vm, p("tiny_vm.nidm"), arch="r2plus1d_tiny",
                                  description="test package: tiny random VM", **SHAPE)
    vmeta["embedding"]["normalized"] = True
    resave(p("tiny_vm.nidm"), p("norm.nidm"), vmeta)
    print("make_model_packages: packages in %s" % out)


if __name__ == "__main__":
    main()
