#!/usr/bin/env bash
# Regenerate the torchvision reference zoo and check ONNX Runtime against PyTorch.
#
# usage: models/torchvision/reference.sh [--force] [--out DIR] [--only a,b | --all]
#                                        [--threads N] [--jobs N] [--manifest]
#
# 1. export.py writes OUT/NAME.{onnx,input.npy,ref_torch.npy,json} for models whose files
#    are missing (all of them with --force).
# 2. tools/ort/run.js runs each model in ONNX Runtime 1.30 (CPU) on its input and stores
#    the "logits" output as OUT/NAME.ref_ort.npy (skipped when present, unless --force).
# 3. report.py prints the results table, the union of ONNX ops, and fails when
#    max|ort - torch| / max|torch| > 1e-3 for any model. --manifest rewrites
#    models/torchvision/manifest.json from the models of this run (the committed one comes
#    from `reference.sh --all --manifest`).
#
# The default set leaves out vgg11_bn (531 MB of ONNX); --all adds it. ONNX Runtime runs
# with --threads N intra-op threads (0, the default, lets it choose); --jobs N models are
# exported in parallel (default: the number of CPUs, at most 4).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
ort_dir="$root/tools/ort"
python=${PYTHON:-/usr/bin/python3}
out="$here/out"
only=""
force=0
threads=0
everything=0
manifest=0
jobs=$(nproc 2>/dev/null || echo 1)
(( jobs > 4 )) && jobs=4

while [[ $# -gt 0 ]]; do
  case "$1" in
    --force) force=1; shift ;;
    --out) out="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --all) everything=1; shift ;;
    --manifest) manifest=1; shift ;;
    --jobs) jobs="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "reference.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

start=$SECONDS
mkdir -p "$out"
out="$(cd "$out" && pwd)"

if [[ ! -d "$ort_dir/node_modules/onnxruntime-node" ]]; then
  echo "== installing onnxruntime-node into $ort_dir/node_modules"
  (cd "$ort_dir" && npm ci --ignore-scripts --no-audit --no-fund)
fi

only_args=()
[[ -n "$only" ]] && only_args=(--only "$only")
[[ $everything == 1 ]] && only_args+=(--all)
model_list="$("$python" "$here/export.py" --list "${only_args[@]}")"
mapfile -t models <<<"$model_list"

# Step 1: export the models whose files are missing.
stale=()
for m in "${models[@]}"; do
  missing=0
  for suffix in onnx input.npy ref_torch.npy json; do
    [[ -s "$out/$m.$suffix" ]] || missing=1
  done
  if [[ $force == 1 || $missing == 1 ]]; then
    stale+=("$m")
    rm -f "$out/$m.ref_ort.npy"
  fi
done
if [[ ${#stale[@]} -gt 0 ]]; then
  echo "== exporting ${#stale[@]} model(s): ${stale[*]}"
  "$python" "$here/export.py" --out "$out" --jobs "$jobs" --only "$(IFS=,; echo "${stale[*]}")"
else
  echo "== all exports present in $out (use --force to redo)"
fi

# Step 2: ONNX Runtime outputs.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for m in "${models[@]}"; do
  if [[ $force == 1 || ! -s "$out/$m.ref_ort.npy" ]]; then
    echo "== onnxruntime: $m"
    node "$ort_dir/run.js" "$out/$m.onnx" "$out/$m.input.npy" --out "$tmp/$m" --threads "$threads" >/dev/null
    mv "$tmp/$m/logits.npy" "$out/$m.ref_ort.npy"
  fi
done

# Step 3: compare and report.
manifest_args=()
[[ $manifest == 1 ]] && manifest_args=(--manifest "$here/manifest.json")
echo
"$python" "$here/report.py" --out "$out" --models "$(IFS=,; echo "${models[*]}")" "${manifest_args[@]}"
echo "reference.sh: done in $((SECONDS - start)) s"
