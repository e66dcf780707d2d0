# StyleGAN2 / ADA optimizers: Adam(lr 0.0025, betas (0, 0.99), eps 1e-8) for G and D, with
# NVlabs' correction for lazy regularisation (lazy_correction=True): with a regulariser every k
# iterations, lr * k / (k + 1) and betas ** (k / (k + 1)) (G: 4/5, D: 16/17). The config keeps
# the nominal values; the built optimizers hold the corrected ones. Experiments set
# train_cfg.max_iters. This file brings the runtime with it: a config lists [model, dataset,
# this schedule].
_base_ = ['../default_runtime.py']

optim_wrapper = dict(
    constructor='GANOptimWrapperConstructor',
    generator=dict(optimizer=dict(type='Adam', lr=0.0025, betas=(0.0, 0.99), eps=1e-8),
                   lazy_correction=True),
    discriminator=dict(optimizer=dict(type='Adam', lr=0.0025, betas=(0.0, 0.99), eps=1e-8),
                       lazy_correction=True),
)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=100_000)
