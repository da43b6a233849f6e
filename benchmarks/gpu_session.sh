#!/usr/bin/env bash
# Every GPU measurement of issues 23 and 24, prepared to run on a fresh GPU machine (one H200) in stages that
# each fit one 10-minute command. What it needs travels with the repository (the machine reaches no network):
#
#   here, once:  benchmarks/gpu_session.sh prepare ../shared/mnist
#                  -> data/MNIST/raw/*.gz (the four MNIST files, gzipped: 11 MB) and .whl/ (jsonargparse and
#                     the two packages of its "signatures" extra, which the GPU machine's image lacks);
#                     both folders are git-ignored: carry them (the device tool's carry: ["data", ".whl"]).
#   there:       benchmarks/gpu_session.sh measure     (~8 min) the gpu-marked tests, the profiler table, the
#                                                       throughput benchmark, seed.yaml and default.yaml fits
#                benchmarks/gpu_session.sh pixels [S]   (~S s, default 500) sMNIST and psMNIST, 3 seeds each,
#                                                       all six side by side on the card, for as many epochs as
#                                                       a timed probe says fit in S - 100 s (PIXEL_EPOCHS=N sets
#                                                       them); each run stops at the end of the first epoch after
#                                                       S - 100 s (or at S s, by SIGTERM, which saves last.ckpt)
#                                                       and resumes from its last.ckpt in the next call (carry
#                                                       "runs" back in, with the same PIXEL_EPOCHS);
#                                                       PIXEL_RECIPES=smnist runs only those (3 runs); CUDA's
#                                                       Multi-Process Service is started where the machine has
#                                                       it (PIXEL_MPS=0: not), so the runs' kernels overlap
#                benchmarks/gpu_session.sh tune [S]     (~S s, default 540) the gpu-marked tests, and alongside
#                                                       them issue 25's search: `tune` of configs/default.yaml
#                                                       at 30 epochs over configs/tune_default.yaml, 6 trials
#                                                       at once, new trials for S - 230 s (--timeout), then the
#                                                       best config confirmed on seeds 0-2 with the test
#   anywhere:    benchmarks/gpu_session.sh measure --dry-run (and pixels, tune --dry-run): the same steps on the CPU,
#                on generated data, tiny: a check that the script runs (tests/test_gpu_session.py runs it)
#
# Results land in $OUT (the device tool's folder that comes back; ./gpu_out when unset), as a few small text
# files, and for `pixels` one .tar per run (its checkpoints and TensorBoard log): unpack them into runs/ to
# carry them into the next `pixels` call. The device returns at most 8 files from $OUT, so there are never more.
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
STAGE=${1:-}
shift || true
DRY_RUN=0
ARGS=()
for arg in "$@"; do
    if [ "$arg" = "--dry-run" ]; then DRY_RUN=1; else ARGS+=("$arg"); fi
done
OUT=${OUT:-$ROOT/gpu_out}
mkdir -p "$OUT"
PYTHON=${PYTHON:-python3}
export PYTHONUNBUFFERED=1

say() { echo "=== $(date -u +%H:%M:%S) $*"; }

prepare() {
    local source=${1:?usage: gpu_session.sh prepare MNIST_DATA_DIR (the folder holding MNIST/raw/)}
    mkdir -p data/MNIST/raw
    for name in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
        if [ -f "$source/MNIST/raw/$name.gz" ]; then
            cp "$source/MNIST/raw/$name.gz" data/MNIST/raw/
        else
            gzip -c "$source/MNIST/raw/$name" > "data/MNIST/raw/$name.gz"
        fi
    done
    # Wheels for the GPU machine's Python 3.12: the versions this project is developed with (pyproject.toml:
    # jsonargparse[signatures], the [tune] extra: Optuna and the packages it needs that the image lacks, and
    # pytest-xdist, which pyproject's pytest options name).
    local platforms=()
    for tag in manylinux_2_28 manylinux_2_17 manylinux2014; do platforms+=(--platform "${tag}_x86_64"); done
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        "${platforms[@]}" -d .whl jsonargparse==4.53.0 docstring_parser==0.18.0 typeshed_client==2.15.0 \
        optuna==5.1.0 alembic==1.20.1 colorlog==6.12.0 Mako==1.4.3 SQLAlchemy==2.1.9 \
        pytest-xdist==3.8.0 execnet==2.1.2
    du -sh data .whl
    echo "carry: [\"data\", \".whl\"] (and \"runs\" to resume the pixel runs)"
}

setup() {
    # The machine has torch, Lightning, torchmetrics and TensorBoard, but no network: the missing wheels come
    # from .whl/, and the project runs from this checkout (PYTHONPATH), so nothing has to be built.
    if ! "$PYTHON" -c "import jsonargparse, optuna, xdist" 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then
        "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
        export PYTHONPATH=/tmp/site
    fi
    export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
    "$PYTHON" - <<'EOF'
import platform

import lightning
import torch

gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA GPU"
print(f"python {platform.python_version()}, torch {torch.__version__}, lightning {lightning.__version__}, {gpu}")
EOF
    if [ "$DRY_RUN" = 1 ]; then
        # Generated data in the real IDX layout (tests/helpers.py), 240 training images; the CPU; tiny runs.
        DATA=$(mktemp -d)
        "$PYTHON" -c "import sys; from pathlib import Path; from tests.helpers import write_fake_set; write_fake_set(Path(sys.argv[1]), 'MNIST')" "$DATA"
        ACCELERATOR=cpu
        TINY=(--data.val_size 40 --data.batch_size 20 --trainer.limit_train_batches 2 --trainer.limit_val_batches 1
              --trainer.limit_test_batches 1 --model.hidden_size 8 --trainer.max_epochs 2)
        BENCH=(--val-size 40 --batch-sizes 20)
        PROBE=(--val-size 40 --steps 2 -- --model.hidden_size 8)
        TUNE=(--trainer.max_epochs 2 --data.val_size 40 --trainer.limit_train_batches 2 --model.hidden_size 8)
    else
        DATA=$ROOT/data
        ACCELERATOR=gpu
        TINY=()
        BENCH=(--batch-sizes 50 128)
        PROBE=(--steps 150)  # a few seconds of six runs sharing the card, whatever their start-up jitter
        TUNE=(--trainer.max_epochs 30)
    fi
}

# Run "$@" with a time limit, its output into file $1 (and the console), and say how it ended.
step() {
    local file=$1 limit=$2
    shift 2
    say "$* (limit ${limit} s)" | tee -a "$file"
    local start=$SECONDS
    timeout --signal=TERM --kill-after=15 "$limit" "$@" 2>&1 | tee -a "$file"
    local status=${PIPESTATUS[0]}
    say "exit $status after $((SECONDS - start)) s" | tee -a "$file"
}

measure() {
    local log=$OUT/measure.txt
    : > "$log"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee -a "$log" || true
    # 1. The gpu-marked tests (skipped, and quick, without CUDA).
    step "$log" 150 "$PYTHON" -m pytest -q -p no:cacheprovider -n 0 -m gpu tests/test_gpu.py
    # 2. Where the time of a step goes: Trainer.fit and the plain graphed loop, batch 50 and 128, fp32.
    local images=20000 rounds=3 profile_images=250
    [ "$DRY_RUN" = 1 ] && images=40 rounds=1 profile_images=40
    step "$OUT/profile.txt" 90 "$PYTHON" -m benchmarks.throughput --profile --accelerator "$ACCELERATOR" \
        --data-dir "$DATA" --precision 32-true --images "$profile_images" "${BENCH[@]}"
    # 3. The throughput table: (a) lab, (b) fit, (c) plain graphed loop, batch 50 and 128, fp32 and bf16-mixed.
    step "$log" 240 "$PYTHON" -m benchmarks.throughput --accelerator "$ACCELERATOR" --data-dir "$DATA" \
        --images "$images" --rounds "$rounds" "${BENCH[@]}"
    # 4. The whole commands, one at a time (their times are single-run times): the lab's 5 epochs, the
    #    default recipe's 15; test accuracy, training time, time to 99.0% validation accuracy.
    for config in seed default; do
        step "$log" 150 "$PYTHON" -m benchmarks.accuracy --config "configs/$config.yaml" --seeds 0 \
            --data-dir "$DATA" --log-dir "$(mktemp -d)" -- --trainer.accelerator "$ACCELERATOR" "${TINY[@]}"
    done
}

# CUDA's Multi-Process Service (MPS), where the machine has it: without it the kernels of several processes
# take turns on the card in time slices, and runs sharing it gain nothing over running one after another
# (six pixel runs on the H200 took six times as long per epoch as one alone); with it they run side by side.
# A client that cannot reach the daemon fails, so one tiny CUDA call checks it before any run starts. Not in
# a pipe (a subshell): the runs need its exports. $1: the log.
start_mps() {
    local log=$1
    MPS=0
    [ "$DRY_RUN" = 1 ] || [ "${PIXEL_MPS:-1}" = 0 ] && return
    if ! command -v nvidia-cuda-mps-control >/dev/null; then
        say "no nvidia-cuda-mps-control here: the runs take turns on the card" | tee -a "$log"
        return
    fi
    export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps-pipe CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log
    mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
    if nvidia-cuda-mps-control -d && timeout 60 "$PYTHON" -c "import torch; torch.ones(1, device='cuda').sum().item()"; then
        MPS=1
        say "MPS started: the runs share the card side by side" | tee -a "$log"
    else
        say "MPS did not start ($(tail -n 3 "$CUDA_MPS_LOG_DIRECTORY/control.log" 2>/dev/null)): the runs take turns on the card" | tee -a "$log"
        echo quit | nvidia-cuda-mps-control >/dev/null 2>&1
        unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
    fi
}

stop_mps() {
    [ "${MPS:-0}" = 1 ] && echo quit | nvidia-cuda-mps-control && say "MPS stopped"
    return 0
}

pixels() {
    local seconds=${ARGS[0]:-500}
    local log=$OUT/pixels.txt
    : > "$log"
    # Each run stops at the end of the first epoch that ends after this many seconds, leaving time for its
    # test and for packing.
    local train_for=$((seconds - 100))
    [ "$train_for" -lt 30 ] && train_for=30
    mkdir -p runs
    # Epochs: PIXEL_EPOCHS when set (a resumed run must keep the count it started with: its one-cycle schedule
    # spans them), else as many as fit in $train_for: each of the six times a few steps of its recipe, all at
    # once, so the card is as shared as in the runs; the slowest sets the count (at most the recipes' 30).
    local recipes=(${PIXEL_RECIPES:-smnist psmnist})
    local epochs=${PIXEL_EPOCHS:-}
    start_mps "$log"
    if [ -z "$epochs" ]; then
        local probes=$(mktemp)
        for name in "${recipes[@]}"; do
            for seed in 0 1 2; do
                "$PYTHON" -m benchmarks.epoch_time --config "configs/$name.yaml" --data-dir "$DATA" \
                    --accelerator "$ACCELERATOR" "${PROBE[@]}" 2>/dev/null | grep EPOCH_SECONDS >> "$probes" &
            done
        done
        wait
        # 15% for validation (5,000 images, forward only) and the slowing of six runs started together.
        epochs=$(awk -v budget="$train_for" '{ if ($2 > slowest) slowest = $2 }
            END { if (slowest == 0) { print 30; exit } e = int(budget / (slowest * 1.15)); print (e < 1 ? 1 : (e > 30 ? 30 : e)) }' "$probes")
        if [ -s "$probes" ]; then
            say "epoch times of the six probes: $(awk '{printf "%s s ", $2}' "$probes"); $epochs epochs fit in $train_for s" | tee -a "$log"
        else
            say "no probe timed its steps (see benchmarks.epoch_time's own output): the recipes' $epochs epochs" | tee -a "$log"
        fi
    fi
    local pids=()
    for name in "${recipes[@]}"; do
        local threshold=0.985  # the time-to-accuracy column: issue 24's 98.5% (sMNIST), 94% (psMNIST)
        [ "$name" = psmnist ] && threshold=0.94
        # 3 seeds of one recipe at once (--parallel 3); the two recipes side by side: 6 runs on the card.
        # A run still in its epoch at $seconds gets SIGTERM (timeout signals the whole process group): it
        # saves last.ckpt after its batch and stops, to go on from there in the next call.
        timeout --signal=TERM --kill-after=30 "$seconds" "$PYTHON" -m benchmarks.accuracy --config "configs/$name.yaml" --seeds 0 1 2 --parallel 3 --resume \
            --stop-after "$train_for" --threshold "$threshold" --data-dir "$DATA" --log-dir runs --name "$name" \
            -- --trainer.accelerator "$ACCELERATOR" --trainer.max_epochs "$epochs" "${TINY[@]}" \
            > "$OUT/$name.txt" 2>&1 &
        pids+=($!)
    done
    say "$((3 * ${#recipes[@]})) runs started; training for about $train_for s each" | tee -a "$log"
    local status=0
    for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
    stop_mps | tee -a "$log"
    nvidia-smi --query-gpu=name,memory.used --format=csv 2>&1 | tee -a "$log" || true
    say "runs ended (exit $status)" | tee -a "$log"
    for name in "${recipes[@]}"; do
        grep -E "^(\||seed|mean|$name)" "$OUT/$name.txt" | tee -a "$log"
        # The full output only when something failed, as its last lines.
        grep -q "^mean test accuracy" "$OUT/$name.txt" || tail -n 40 "$OUT/$name.txt" >> "$log"
        rm -f "$OUT/$name.txt"
    done
    # One archive per run (checkpoints + TensorBoard log), for the next call's carry: tar -xf into the repo.
    for run in runs/*/seed*; do
        [ -d "$run" ] || continue
        local name=$(basename "$(dirname "$run")")-$(basename "$run")
        tar -cf "$OUT/$name.tar" "$run"
        ls -l "$OUT/$name.tar" | tee -a "$log"
    done
}

tune_stage() {
    local seconds=${ARGS[0]:-540}
    local log=$OUT/tune.txt
    : > "$log"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee -a "$log" || true
    # The gpu-marked tests alongside the search (they check behaviour, not speed).
    step "$OUT/gpu_tests.txt" 200 "$PYTHON" -m pytest -q -p no:cacheprovider -n 0 -m gpu tests/test_gpu.py > /dev/null &
    local tests=$!
    # New trials for S - 230 s; the running ones finish (a 30-epoch trial with six sharing the card: about a
    # minute), then the table, the plots, best.yaml, and best.yaml trained on seeds 0-2 with the test (3 at
    # once). The search is by val/acc only; the test set is read by the confirming runs alone.
    local search_for=$((seconds - 230))
    [ "$DRY_RUN" = 1 ] && search_for=1
    [ "$search_for" -lt 1 ] && search_for=1
    rm -rf tune/default-30
    step "$log" $((seconds - 25)) "$PYTHON" -m mnist_rnn tune --config configs/default.yaml \
        --space configs/tune_default.yaml --study default-30 --root tune/default-30 --trials 200 \
        --timeout "$search_for" --workers 6 --startup-trials 6 --warmup-steps 8 --confirm-seeds 3 \
        --data.data_dir "$DATA" --trainer.accelerator "$ACCELERATOR" "${TUNE[@]}"
    wait "$tests"
    # The study without checkpoints or the trials' TensorBoard logs (each file that comes back is at most 16 MiB):
    # the database (with every validation's val/acc), each trial's config and log, the table, the plots; and
    # apart, the confirming runs' logs and TensorBoard files.
    tar -cf "$OUT/tune-default-30.tar" --exclude='*.ckpt' --exclude='lightning_logs' tune/default-30 2>&1 | tee -a "$log"
    tar -cf "$OUT/tune-default-30-confirm.tar" --exclude='*.ckpt' tune/default-30/confirm 2>&1 | tee -a "$log"
    ls -l "$OUT" | tee -a "$log"
}

case "$STAGE" in
    prepare) prepare "${ARGS[@]}" ;;
    measure) setup && measure ;;
    pixels) setup && pixels ;;
    tune) setup && tune_stage ;;
    *) echo "usage: benchmarks/gpu_session.sh prepare MNIST_DATA_DIR | measure [--dry-run] | pixels [SECONDS] [--dry-run] | tune [SECONDS] [--dry-run]" >&2
       exit 2 ;;
esac
