# Embedded default: conditional GAN on scikit-learn's bundled digits, 16x16, 10 classes.
# Runs on a 2-core CPU in a few minutes; the grid has one row per digit.
_base_ = [
    '../_base_/models/cgan_28x28.py', '../_base_/datasets/digits.py',
    '../_base_/schedules/adam_2e-4_20k.py', '../_base_/default_runtime.py',
]
model = dict(
    # detail_size=8: the digits are 8x8 scans shown at 16x16 (bilinear), so G's drawing is
    # averaged to 8x8 and up-sampled the same way: no speckle finer than the data have
    # (without it the strokes were speckled; docs/notes/benchmarks_log.md "Demo quality")
    generator=dict(latent_dim=64, image_size=16, base_channels=16, detail_size=8),
    # minibatch std lets D see a batch without variety: without it G drew one sample per class
    discriminator=dict(image_size=16, base_channels=16, minibatch_std=True),
)
# 3,000 iterations at lr 2e-4, then 3,000 of linear decay to 0 (3,000 at a constant lr
# left the strokes blotchy: fewer samples read as clearly as real digits)
train_cfg = dict(max_iters=6000)
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, begin=3000, end=6000,
         by_epoch=False),
]
default_hooks = dict(logger=dict(interval=100), checkpoint=dict(interval=2000))
custom_hooks = [
    dict(type='SampleGridHook', interval=1000, upscale=4),
    dict(type='GANHealthHook', interval=100),
]
# CPU threads: torch's default (speed.num_threads unset). On a busy 2-core machine one
# thread was faster for these tiny networks (docs/notes/benchmarks_log.md): --num-threads 1.
