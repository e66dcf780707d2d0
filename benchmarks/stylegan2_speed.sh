#!/usr/bin/env bash
# StyleGAN2 training speed on the CPU: gancore's train_step (the four phases through BaseGAN)
# against benchmarks/train_speed.py's plain PyTorch loop of the same networks and phases
# (PlainStyleGAN2), at 32x32 and 64x64. Target: time / plain <= 1.05. Run it on an idle machine.
#
#   bash benchmarks/stylegan2_speed.sh [OUT_DIR]        # default OUT_DIR: stylegan2_speed_out/
#
# Networks: the FFHQ config's (8-layer mapping, w 512, skip G, residual D, mbstd 4) narrowed to
# channel_base 4096 / channel_max 128 (128 channels up to 32x32, 64 at 64x64) so that a CPU
# iteration takes seconds; batch 8; Greg every 4, Dreg every 16 (rounds of 8 iterations keep
# both sides on the same iterations); ADA at a fixed p = 0.2 on every D input of both sides.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-stylegan2_speed_out}"
PY="${PYTHON:-python}"
mkdir -p "$OUT"
NETS="model.generator.channel_base=4096 model.discriminator.channel_base=4096 model.generator.channel_max=128 model.discriminator.channel_max=128 model.augment.target=None model.augment.p=0.2"
for size in 32 64; do
  # shellcheck disable=SC2086  # NETS: space-separated --cfg-options
  "$PY" benchmarks/train_speed.py --config configs/stylegan2/stylegan2_256x256_1xb64-391k_ffhq.py \
    --batch-size 8 --iters 8 --warmup 2 --rounds 5 --json "$OUT/stylegan2_${size}.json" \
    --cfg-options $NETS model.generator.resolution=$size model.discriminator.resolution=$size \
    | tee "$OUT/stylegan2_${size}.log"
done
grep 'model name' /proc/cpuinfo | head -1
uptime
