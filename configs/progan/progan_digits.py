# Embedded default: Progressive GAN on scikit-learn's bundled digits (no download), growing
# 4x4 -> 8x8 -> 16x16 -> 32x32 with a short schedule on small networks, unconditional as in
# the paper. samples/level_<R>x<R>.png: one grid per resolution; samples/iter_<N>.png: every
# 445 iterations. A few minutes on a 2-core CPU.
_base_ = [
    '../_base_/models/progan_128x128.py', '../_base_/datasets/digits.py',
    '../_base_/schedules/progan_600kimg.py',
]
_channels = {4: 32, 8: 32, 16: 16, 32: 16}
model = dict(
    generator=dict(latent_dim=64, out_channels=1, max_resolution=32, channels=_channels),
    discriminator=dict(in_channels=1, max_resolution=32, channels=_channels),
    ema_decay=0.98,  # ~4k iterations in all: 0.999 would lag far behind the new levels
    # non-saturating logistic loss with a zero-centred gradient penalty (weight 0.1) on the
    # real/fake interpolates, lazy (every 8th D step, weighted by 8: a third less D work per
    # iteration, the same confident share per iteration), and no drift term
    gan_loss=dict(type='NonSaturatingGANLoss'),
    gp_loss=dict(type='GradientPenaltyLoss', loss_weight=0.1, target_norm=0.0),
    gp_interval=8,
    drift_loss=dict(type='DriftLoss', loss_weight=0.0),
)
train_dataloader = dict(dataset=dict(image_size=32))  # the final size; the model pools it
# a short run learns faster with 5x the paper's learning rate (2x-10x tried: 1e-2 diverges)
optim_wrapper = dict(generator=dict(optimizer=dict(lr=5e-3)),
                     discriminator=dict(optimizer=dict(lr=5e-3)))
# images per level: 4x4 12,800; 8x8 3,200 fade-in + 211,200 stable at batch 64 (the digits
# are 8x8 images, so the low levels are where they are learnt), i.e. 200 and 50 + 3,300
# iterations; 16x16 200 + 200 and 32x32 200 fade-in iterations at batch 16 (fade-ins of
# 100 lost a fifth of the confident samples), then 32x32 stable to 4,450 iterations (300).
# The figures of each choice: docs/notes/benchmarks_log.md "Demo quality"
default_hooks = dict(
    progressive_growing=dict(
        fade_images=3_200, stable_images=3_200,
        schedule={4: dict(stable=12_800), 8: dict(fade=3_200, stable=211_200)}),
    progressive_data=dict(batch_sizes={4: 64, 8: 64, 16: 16, 32: 16}),
    logger=dict(interval=50),
    checkpoint=dict(interval=445),
)
custom_hooks = [
    dict(type='SampleGridHook', interval=445, upscale=2),
    dict(type='GANHealthHook', interval=50),
]
train_cfg = dict(max_iters=4450)
# CPU threads: torch's default (speed.num_threads unset). On a busy machine, tiny networks
# often train faster on one thread: gancore train CONFIG --num-threads 1.
