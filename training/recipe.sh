#!/bin/sh
# recipe.sh - the default model's recipe, end to end, as one command:
# data -> CM -> VM (head on the CM's frozen embedder) -> model cards ->
# the method's tables (results/reid, results/cluster) on held-out data.
#
# Usage (repository root, after the build and the Python binding, see
# training/README.md "Setup"):
#   sh training/recipe.sh DATA_DIR [STAGE...]
# Stages (default: all, in this order): data cm vm quantize cards tables
#   data    phantom train scale, seed 3 (patients 1..N of --patients 600;
#           this recipe uses the first 258), the paper scale's val/test
#           splits of seed 2 (held out: other seed), the paper scale's test
#           split of seed 5 (a second held-out test set), a shifted test set
#           (seed 4, four imaging knobs moved) for the robustness check, and two
#           train-scale sets of unused seeds with many within-patient
#           negatives: seed 7 (150 patients; for `train --kernel-data`
#           experiments) and seed 8 (150 patients; a third test set)
#   cm      classification model: whole-patient P x K batches, cross-entropy
#           + batch-hard triplet + supervised contrastive loss, identity FC
#           at 20x the rate, coordinate channels, context channels (the
#           frames cropped again at margin 1.0), temporal/box/gain
#           augmentation, a weight average (EMA 0.99); epoch chosen by the
#           network's validation AUC on seed 7's 150 train-scale patients
#           (4335 within-patient negatives), geometry kernels and the pair
#           threshold fitted there; Algorithm 1's tau and the exam grouping
#           calibrated on the seed-2 val split (`training calibrate`)
#   vm      verification model: the CM's embedder, frozen, plus the head
#   quantize the CM's int8 graph (python3 -m training quantize), calibrated
#           on the validation clips, and its bf16 graph (--precision bf16,
#           checked on them), stored in the package beside fp32
#   cards   model cards through the C library (val/test, DeLong CM vs VM),
#           the shifted set's AUC, the seed-5 test split, the seed-8 test set, int8 against fp32
#   tables  results/reid and results/cluster regenerated
# Environment: PATIENTS (default 258), EPOCHS (default 38; the CM stops
# after 6 epochs without a better validation AUC), THREADS (2), RUNS
# (default DATA_DIR/runs).
set -eu
D=${1:?usage: sh training/recipe.sh DATA_DIR [STAGE...]}
shift
stages=${*:-data cm vm quantize cards tables}
PY=/usr/bin/python3
PATIENTS=${PATIENTS:-258}
EPOCHS=${EPOCHS:-38}
THREADS=${THREADS:-2}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
TRAIN=$D/train-s3-600
EVAL=$D/paper-s2-vt
TEST5=$D/paper-s5-t
SHIFT=$D/paper-s4-shift
SHIFT0=$D/paper-s4-base
KFIT=$D/train-s7-v150
TEST8=$D/train-s8-t150
RUNS=${RUNS:-$D/runs}
COMMON="--arch compact --frames 8 --height 48 --width 64 --channels 1 --coords frame
        --temporal-aug 2 --augment full --lr 1e-3 --threads $THREADS --seed 0
        --depth-kernel auto --geometry depth,height,width"

for s in $stages; do
  case $s in
  data)
    phantom/generate --scale train --seed 3 --patients 600 --only 1-"$PATIENTS" \
      --out "$TRAIN" --jobs 2 --quiet
    # --only writes no index: all generated patients train (validation
    # comes from the evaluation data's val split)
    $PY - "$TRAIN" "$PATIENTS" <<'EOF'
import json, os, sys
d, n = sys.argv[1], int(sys.argv[2])
ok = ["P%04d/P%04d-E1.json" % (k, k) for k in range(1, n + 1)
      if os.path.exists(os.path.join(d, "P%04d/P%04d-E1.json" % (k, k)))]
json.dump({"format": "noduleid-dataset", "version": 1,
           "splits": {"train": ok, "val": [], "test": []},
           "meta": {"generator": "noduleid-phantom", "seed": 3, "scale": "train",
                    "note": "patients 1..%d of phantom/generate --scale train --seed 3 "
                            "--patients 600, all of them train" % n, "config": {}}},
          open(os.path.join(d, "dataset.json"), "w"), indent=1)
EOF
    phantom/generate --scale paper --seed 2 --splits val,test --out "$EVAL" --jobs 2 --quiet
    phantom/generate --scale paper --seed 5 --splits test --out "$TEST5" --jobs 2 --quiet
    phantom/generate --scale paper --seed 4 --splits test --out "$SHIFT" --jobs 2 --quiet \
      --set 'dynamic_range_db=[52.0, 58.0]' --set psf_axial_mm=0.18 \
      --set psf_lateral_mm=0.46 --set psf_mod_mm=0.75 --set attenuation=0.1 \
      --set level_jitter=0.25
    # the same patients without the shift: the robustness check's baseline
    phantom/generate --scale paper --seed 4 --splits test --out "$SHIFT0" --jobs 2 --quiet
    phantom/generate --scale train --seed 7 --patients 150 --set 'split_counts=[0,150,0]' \
      --splits val --out "$KFIT" --jobs 2 --quiet
    phantom/generate --scale train --seed 8 --patients 150 --set 'split_counts=[0,0,150]' \
      --splits test --out "$TEST8" --jobs 2 --quiet
    ;;
  cm)
    # shellcheck disable=SC2086
    $PY -m training train --model cm --data "$TRAIN" --val-data "$KFIT" --val-split val $COMMON \
      --sampler patient --P 16 --K 4 --metric-loss triplet+supcon --fc-lr-mult 20 \
      --context-margin 1.0 --ema 0.99 \
      --epochs "$EPOCHS" --select auc --patience 6 \
      --no-card --out "$RUNS/cm-geo"
    # Algorithm 1's tau and the exam grouping (method, tau) on the paper scale's
    # validation exams (fewer nodules per exam than the train scale's)
    $PY -m training calibrate --package "$RUNS/cm-geo/model.nidm" --data "$EVAL" --split val
    ;;
  vm)
    # shellcheck disable=SC2086
    $PY -m training train --model vm --data "$TRAIN" --val-data "$KFIT" --val-split val $COMMON \
      --context-margin 1.0 \
      --init "$RUNS/cm-geo/best.pt" --freeze-extractor --head-features concat-diff \
      --batch-pairs 64 --epochs 10 --no-card --out "$RUNS/vm-geo"
    ;;
  quantize)
    $PY -m training quantize --package "$RUNS/cm-geo/model.nidm" --data "$EVAL" --split val \
      --clips 277 --keep-fp32 layer4 --threads "$THREADS" --out "$RUNS/cm-geo/model-int8.nidm"
    mv "$RUNS/cm-geo/model-int8.nidm" "$RUNS/cm-geo/model.nidm"
    # the bf16 graph (needs a CPU with AVX-512 BW/VL/DQ), checked on the same clips
    $PY -m training quantize --precision bf16 --package "$RUNS/cm-geo/model.nidm" --data "$EVAL" \
      --split val --clips 277 --threads "$THREADS" --out "$RUNS/cm-geo/model-bf16.nidm"
    mv "$RUNS/cm-geo/model-bf16.nidm" "$RUNS/cm-geo/model.nidm"
    ;;
  cards)
    $PY -m training evaluate --package "$RUNS/cm-geo/model.nidm" \
      --compare "$RUNS/vm-geo/model.nidm" --data "$EVAL" --split val test \
      --card "$RUNS/cm-geo/model.md"
    $PY -m training evaluate --package "$RUNS/cm-geo/model.nidm" --data "$SHIFT" \
      --split test > "$RUNS/cm-geo/shifted.json"
    $PY -m training evaluate --package "$RUNS/cm-geo/model.nidm" --data "$SHIFT0" \
      --split test > "$RUNS/cm-geo/unshifted.json"
    $PY -m training evaluate --package "$RUNS/cm-geo/model.nidm" --data "$TEST5" \
      --split test > "$RUNS/cm-geo/test-seed5.json"
    $PY -m training evaluate --package "$RUNS/cm-geo/model.nidm" --data "$TEST8" \
      --split test > "$RUNS/cm-geo/test-seed8.json"
    $PY -m training evaluate --package "$RUNS/cm-geo/model.nidm" --precision int8 \
      --compare "$RUNS/cm-geo/model.nidm" --compare-precision fp32 --data "$EVAL" \
      --split test --threads 1 > "$RUNS/cm-geo/int8.json"
    ;;
  tables)
    $PY -m evaluation reid --cm "$RUNS/cm-geo/model.nidm" --vm "$RUNS/vm-geo/model.nidm" \
      --data "$EVAL" --splits val test --out results/reid
    $PY -m evaluation cluster --cm "$RUNS/cm-geo/model.nidm" --data "$EVAL" \
      --out results/cluster
    ;;
  *) echo "recipe.sh: unknown stage $s (data cm vm quantize cards tables)" >&2; exit 2 ;;
  esac
done
