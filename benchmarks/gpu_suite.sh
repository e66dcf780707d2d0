#!/usr/bin/env bash
# The GPU suite: the CUDA tests first (stops if they fail), then one table of training speed
# and peak memory per model and speed option, FID images/s against pytorch-fid, and the
# image-folder loader's throughput. Meant to finish in under 8 minutes on one GPU.
#
#   bash benchmarks/gpu_suite.sh [OUT_DIR]          # default OUT_DIR: gpu_suite_out/
#
# It ends by writing OUT_DIR/table.md: the section for docs/benchmarks.md ("GPU"), with
# the GPU's name, memory and driver, torch/CUDA/cuDNN, the date, the commit and every table.
#
# GPU_SUITE_DEVICE=cpu GPU_SUITE_QUICK=1 runs the same plumbing on a CPU with tiny settings
# (no CUDA tests, no fp16): a check that the script works, not figures.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-gpu_suite_out}"
DEVICE="${GPU_SUITE_DEVICE:-cuda}"
QUICK="${GPU_SUITE_QUICK:-0}"
PY="${PYTHON:-python}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
start=$(date +%s)
log() { echo "[gpu_suite +$(( $(date +%s) - start ))s] $*"; }

"$PY" - "$OUT/env.json" <<'EOF'
import datetime, json, platform, subprocess, sys, torch
env = {'gpu': 'no GPU (CPU run)', 'torch': torch.__version__, 'cuda': torch.version.cuda,
       'date': datetime.datetime.now().strftime('%Y-%m-%d %H:%M'), 'cpu': platform.processor()}
try:
    env['cpu'] = next(l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo')
                      if l.startswith('model name'))
except (OSError, StopIteration):
    pass
try:
    env['commit'] = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True,
                                   text=True, check=True).stdout.strip()
except (OSError, subprocess.CalledProcessError):
    env['commit'] = 'unknown'
if torch.cuda.is_available():
    props = torch.cuda.get_device_properties(0)
    env.update(gpu=torch.cuda.get_device_name(0), gpu_count=torch.cuda.device_count(),
               gpu_memory_gib=round(props.total_memory / 2**30, 1),
               cudnn=torch.backends.cudnn.version())
    try:
        env['driver'] = subprocess.run(
            ['nvidia-smi', '--query-gpu=driver_version', '--format=csv,noheader'],
            capture_output=True, text=True, check=True).stdout.split()[0]
    except (OSError, subprocess.CalledProcessError, IndexError):
        pass
json.dump(env, open(sys.argv[1], 'w'))
print(env['gpu'], torch.__version__, 'CUDA', torch.version.cuda)
EOF

if [ "$DEVICE" = cuda ]; then
  log "CUDA tests"
  if ! timeout 300 "$PY" -m pytest -q -x -m cuda tests/cuda 2>&1 | tee "$OUT/cuda_tests.log"; then
    log "CUDA tests failed: stopping (see $OUT/cuda_tests.log)"
    exit 1
  fi
  grep -q ' passed' "$OUT/cuda_tests.log" && ! grep -q 'skipped' "$OUT/cuda_tests.log" || {
    log "CUDA tests did not all run (skipped: is the GPU visible?): stopping"; exit 1; }
  VARIANTS=default,bf16,fp16,fast_bf16,fast_fp16
  ITERS=10; WARMUP=3; ROUNDS=3; CAP=100
else
  VARIANTS=default,bf16,channels_last
  ITERS=1; WARMUP=1; ROUNDS=2; CAP=600
  THREADS="--threads 1"  # a plumbing check: steady on a shared machine
fi

# name | config | image size | batch size [| --cfg-options [| variants (default: the suite's)]]
# StyleGAN2 256x256: the reference README's single-GPU setting (--cfg=auto on one GPU: batch 16,
# channel_base 16384, mapping 2, mbstd 4, fp16 top 4 resolutions, ADA), against its 21.6-24.2
# s/kimg on one V100; its own float16 blocks, so only the 'default' variant. ADA at a fixed p = 0.2
# (the reference runs its whole pipeline once p > 0; a fixed p keeps both sides doing so).
SG2_256="model.generator.mapping_layers=2 model.discriminator.mapping_layers=2 model.discriminator.mbstd_group_size=4 model.ema_kimg=5.0 model.ema_rampup=0.05 model.augment.target=None model.augment.p=0.2"
ROWS=(
  "cgan_32_b64|configs/cgan/cgan_projection-hinge_1xb64-50k_cifar10.py|32|64"
  "pix2pix_256_b1|configs/pix2pix/pix2pix_unet256_1xb1-80k_facades.py|256|1"
  "pix2pix_256_b4|configs/pix2pix/pix2pix_unet256_1xb1-80k_facades.py|256|4"
  "cyclegan_256_b1|configs/cyclegan/horse2zebra.py|256|1"
  "cyclegan_256_b4|configs/cyclegan/horse2zebra.py|256|4"
  "progan_64_b16|configs/progan/progan_64x64_1xb128-80k_celeba.py|64|16"
  "stylegan2_256_b16|configs/stylegan2/stylegan2_256x256_1xb64-391k_ffhq.py|256|16|$SG2_256|default"
)
if [ "$QUICK" = 1 ]; then  # the demos' small networks: the plumbing in about two minutes
  ROWS=("cgan_16_b64|configs/cgan/cgan_digits.py|16|64"
        "cyclegan_32_b4|configs/cyclegan/cyclegan_demo.py|32|4")
fi
for row in "${ROWS[@]}"; do
  IFS='|' read -r name config size bs opts variants <<<"$row"
  variants="${variants:-$VARIANTS}"
  log "train_speed $name ($variants)"
  # shellcheck disable=SC2086  # opts: space-separated --cfg-options
  if ! timeout "$CAP" "$PY" benchmarks/train_speed.py --config "$config" --device "$DEVICE" \
      --size "$size" --batch-size "$bs" --variants "$variants" --iters "$ITERS" \
      ${opts:+--cfg-options $opts} \
      --warmup "$WARMUP" --rounds "$ROUNDS" ${THREADS:-} --json "$OUT/train_$name.json" \
      > "$OUT/train_$name.log" 2>&1; then
    log "  $name failed or ran past ${CAP}s (see $OUT/train_$name.log)"
    echo "{\"error\": \"failed or over ${CAP}s\"}" > "$OUT/train_$name.json"
  fi
done

if [ "$DEVICE" = cuda ]; then
  log "FID: gancore vs pytorch-fid on the GPU"
  timeout 150 "$PY" benchmarks/fid_speed.py --device cuda --images 2000 --size 64 \
    --batch-size 100 --repeats 1 --no-sqrtm --json "$OUT/fid.json" > "$OUT/fid.log" 2>&1 ||
    log "  FID benchmark failed (see $OUT/fid.log)"
fi

log "image-folder loader, 256x256, 4 workers"
for bs in 1 4; do
  timeout 120 "$PY" benchmarks/loader_speed.py --config configs/cyclegan/horse2zebra.py \
    --workers 4 --batch-size "$bs" --batches $([ "$QUICK" = 1 ] && echo 10 || echo 200) \
    --json "$OUT/loader_b$bs.json" > "$OUT/loader_b$bs.log" 2>&1 ||
    log "  loader benchmark failed (see $OUT/loader_b$bs.log)"
done

log "done"
"$PY" benchmarks/gpu_table.py "$OUT" --seconds "$(( $(date +%s) - start ))" | tee "$OUT/table.md"
log "the section for docs/benchmarks.md is $OUT/table.md"
