#!/usr/bin/env bash
# GPU readiness of pdelearn (issue 29, item 6): one script, at most 10 minutes on one H100.
#
#   bash benchmarks/gpu_check.sh [--dry-run] [--data MNIST_ROOT] [OUTDIR]
#
# OUTDIR: where every log and result goes (default: $OUT, else gpu_check_out). --data: a folder holding
# MNIST/raw (python -m pdelearn.vision.get_mnist); default $MNIST_DATA, else data/ when it holds MNIST/raw;
# without it the MNIST tables are skipped (said in summary.txt). --dry-run prints the commands, runs nothing.
#
# Steps, each under its own time limit (seconds), in this order:
#   1. gpu_tests   (150)  python -m pytest -m gpu: the CUDA-marked tests (AMP PR-Net, fit smoke, classification)
#   2. amp_fit     ( 90)  pdelearn fit recipes/prnet_digits.yaml with training.amp=true on cuda (mixed precision)
#   3. fit_cuda    ( 60)  pdelearn fit recipes/allen_cahn.yaml, a few steps, --device cuda
#   4. discover    ( 60)  pdelearn generate burgers + pdelearn discover (no --device option: the engine is CPU code)
#   5. mnist_small (120)  benchmarks/prnet_mnist.py --device cuda, 3840 images per epoch, Adam and SGD tables
#   6. mnist_epoch (100)  benchmarks/prnet_mnist.py --device cuda, one full epoch, Adam table (as far as it gets)
# The limits add up to 580 s. A step that fails or runs out of time is recorded and the next one runs;
# summary.txt lists every step with its exit status (124: time limit) and the nvidia-smi / torch versions.
set -u

DRY=0
DATA="${MNIST_DATA:-}"
OUTDIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --data) shift; DATA="${1:-}" ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    -*) echo "Error: unknown option $1 (use --dry-run, --data DIR, OUTDIR)" >&2; exit 2 ;;
    *) OUTDIR="$1" ;;
  esac
  shift
done
OUTDIR="${OUTDIR:-${OUT:-gpu_check_out}}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-python}"
if [ -z "$DATA" ] && [ -d "$ROOT/data/MNIST/raw" ]; then DATA="$ROOT/data"; fi

SMALL="training.steps=2 training.lbfgs_steps=1 training.lbfgs_max_iter=2 training.time_windows=2 training.log_every=1 \
reference.nx=64 reference.nt=11 reference.dt=1e-3 reference.refine=2 sampling.collocation=64 sampling.initial=16 \
sampling.boundary=8 losses.reference_points=32 training.target_rel_l2=null"
sets() { for s in $1; do printf -- '--set %s ' "$s"; done; }

STEPS=()
step() {  # name, time limit, command
  local name="$1" limit="$2"; shift 2
  local cmd="$*"
  STEPS+=("$name")
  if [ "$DRY" = 1 ]; then
    echo "[$name] timeout $limit $cmd"
    return 0
  fi
  echo "== $name (limit ${limit}s): $cmd" | tee -a "$OUTDIR/summary.txt"
  local t0=$SECONDS
  (cd "$ROOT" && timeout "$limit" bash -c "$cmd") > "$OUTDIR/$name.log" 2>&1
  local rc=$?
  echo "   $name: exit $rc after $((SECONDS - t0)) s" | tee -a "$OUTDIR/summary.txt"
  tail -n 5 "$OUTDIR/$name.log" | sed 's/^/   | /' >> "$OUTDIR/summary.txt"
}

if [ "$DRY" = 0 ]; then
  mkdir -p "$OUTDIR" || { echo "Error: cannot create $OUTDIR" >&2; exit 2; }
  OUTDIR="$(cd "$OUTDIR" && pwd)"
  : > "$OUTDIR/summary.txt"
  {
    date -u +"%Y-%m-%dT%H:%M:%SZ"
    git -C "$ROOT" rev-parse HEAD 2>/dev/null
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -n 4
    "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
  } >> "$OUTDIR/summary.txt" 2>&1
fi

step gpu_tests 150 "$PY -m pytest -q -p no:cacheprovider -m gpu tests"
step amp_fit 90 "$PY -m pdelearn.cli fit recipes/prnet_digits.yaml --out '$OUTDIR/amp_fit' --device cuda --force \
  --set training.amp=true --set training.epochs=2"
step fit_cuda 60 "$PY -m pdelearn.cli fit recipes/allen_cahn.yaml --out '$OUTDIR/fit_cuda' --device cuda --force \
  $(sets "$SMALL")"
step discover 60 "$PY -m pdelearn.cli generate burgers --out '$OUTDIR/burgers.npz' --force && \
  $PY -m pdelearn.cli discover '$OUTDIR/burgers.npz' --out '$OUTDIR/discover' --force --budget 40"
if [ -n "$DATA" ]; then
  step mnist_small 120 "$PY benchmarks/prnet_mnist.py --data '$DATA' --device cuda --threads 4 --epochs 1 \
    --images-per-epoch 3840 --test-images 2000 --optimizer both --out '$OUTDIR/prnet_mnist_small_cuda.json'"
  step mnist_epoch 100 "$PY benchmarks/prnet_mnist.py --data '$DATA' --device cuda --threads 4 --epochs 1 \
    --optimizer adam --max-minutes 0.8 --out '$OUTDIR/prnet_mnist_epoch_cuda.json'"
elif [ "$DRY" = 1 ]; then
  echo "[mnist_small] skipped: no --data DIR (a folder holding MNIST/raw) and no data/MNIST/raw"
  echo "[mnist_epoch] skipped: no --data DIR"
else
  echo "== mnist_small, mnist_epoch: skipped, no --data DIR holding MNIST/raw" | tee -a "$OUTDIR/summary.txt"
fi
[ "$DRY" = 1 ] || echo "wrote $OUTDIR (summary.txt, one .log per step: ${STEPS[*]})"
