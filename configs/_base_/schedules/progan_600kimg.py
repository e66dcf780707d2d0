# Progressive GAN schedule (the paper): Adam(lr 1e-3, betas (0, 0.99), eps 1e-8) for G and D;
# 4x4 trained for 600k real images, then every resolution fades in over 600k images and is
# stabilised for 600k; Adam's state is cleared when a resolution is added; the batch size per
# process shrinks with the resolution. Experiments set train_cfg.max_iters (see
# docs/models/progan.md for the iterations each resolution takes).
#
# The ProGAN hooks sit in default_hooks (a dict) rather than custom_hooks (a list) so that an
# experiment config overrides one argument, e.g.
#   default_hooks = dict(progressive_growing=dict(fade_images=800_000))
# This file brings the runtime with it: a config lists [model, dataset, this schedule].
_base_ = ['../default_runtime.py']

optim_wrapper = dict(
    constructor='GANOptimWrapperConstructor',
    generator=dict(optimizer=dict(type='Adam', lr=1e-3, betas=(0.0, 0.99), eps=1e-8)),
    discriminator=dict(optimizer=dict(type='Adam', lr=1e-3, betas=(0.0, 0.99), eps=1e-8)),
)
default_hooks = dict(
    # counts real images shown, sets (level, alpha), resets Adam on a new level, logs them
    progressive_growing=dict(type='ProgressiveGrowingHook', fade_images=600_000,
                             stable_images=600_000, start_resolution=4, reset_optimizer=True),
    # batch size per resolution; the dataset stays at the final size, the model avg-pools it
    progressive_data=dict(type='ProgressiveDataHook', shuffle=True, batch_sizes={
        4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8, 512: 4, 1024: 4}),
    level_grid=dict(type='LevelGridHook', upscale=True),  # a grid per finished resolution
)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=100_000)
# distributed: the blocks of resolutions not grown yet receive no gradient
find_unused_parameters = True
