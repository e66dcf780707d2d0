# Embedded default: conditional GAN on scikit-learn's bundled digits, 16x16, 10 classes.
# Runs on a 2-core CPU in a few minutes; the grid has one row per digit.
_base_ = [
    '../_base_/models/cgan_28x28.py', '../_base_/datasets/digits.py',
    '../_base_/schedules/adam_2e-4_20k.py', '../_base_/default_runtime.py',
]
model = dict(
    generator=dict(latent_dim=64, image_size=16, base_channels=16),
    # minibatch std lets D see a batch without variety: without it G drew one sample per class
    discriminator=dict(image_size=16, base_channels=16, minibatch_std=True),
)
train_cfg = dict(max_iters=3000)
default_hooks = dict(logger=dict(interval=100), checkpoint=dict(interval=1000))
custom_hooks = [
    dict(type='SampleGridHook', interval=500, upscale=4),
    dict(type='GANHealthHook', interval=100),
]
# CPU threads: torch's default (speed.num_threads unset). On a busy 2-core machine one
# thread was faster for these tiny networks (docs/benchmarks.md): --num-threads 1.
