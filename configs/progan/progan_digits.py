# Embedded default: Progressive GAN on scikit-learn's bundled digits (no download), growing
# 4x4 -> 8x8 -> 16x16 -> 32x32 with a short schedule on small networks, unconditional as in
# the paper. samples/level_<R>x<R>.png: one grid per resolution; samples/iter_<N>.png: every
# 275 iterations. A few minutes on a 2-core CPU.
_base_ = [
    '../_base_/models/progan_128x128.py', '../_base_/datasets/digits.py',
    '../_base_/schedules/progan_600kimg.py',
]
_channels = {4: 32, 8: 32, 16: 16, 32: 16}
model = dict(
    generator=dict(latent_dim=64, out_channels=1, max_resolution=32, channels=_channels),
    discriminator=dict(in_channels=1, max_resolution=32, channels=_channels),
    ema_decay=0.98,  # ~1k iterations in all: 0.999 would lag far behind the new levels
)
train_dataloader = dict(dataset=dict(image_size=32))  # the final size; the model pools it
# a short run learns faster with twice the paper's learning rate
optim_wrapper = dict(generator=dict(optimizer=dict(lr=2e-3)),
                     discriminator=dict(optimizer=dict(lr=2e-3)))
# iterations: 4x4 200; 8x8 100 fade-in + 400 stable (batch 32);
# 16x16 100 + 100, 32x32 100 fade-in + 100 stable (batch 16): 1,100 in all
default_hooks = dict(
    progressive_growing=dict(
        fade_images=1_600, stable_images=1_600,
        schedule={4: dict(stable=6_400), 8: dict(fade=3_200, stable=12_800)}),
    progressive_data=dict(batch_sizes={4: 32, 8: 32, 16: 16, 32: 16}),
    logger=dict(interval=50),
    checkpoint=dict(interval=275),
)
custom_hooks = [
    dict(type='SampleGridHook', interval=275),
    dict(type='GANHealthHook', interval=50),
]
train_cfg = dict(max_iters=1100)
# CPU threads: torch's default (speed.num_threads unset). On a busy machine, tiny networks
# often train faster on one thread: gancore train CONFIG --num-threads 1.
