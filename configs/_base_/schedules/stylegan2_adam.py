# StyleGAN2 / ADA optimizers: Adam(lr 0.0025, betas (0, 0.99), eps 1e-8) for G and D. NVlabs
# also scales the regularised networks' lr and betas by interval / (interval + 1) (lazy
# regularisation: G 4/5, D 16/17); that correction belongs to the training phases (not wired
# yet), so the nominal values are given here. Experiments set train_cfg.max_iters.
# This file brings the runtime with it: a config lists [model, dataset, this schedule].
_base_ = ['../default_runtime.py']

optim_wrapper = dict(
    constructor='GANOptimWrapperConstructor',
    generator=dict(optimizer=dict(type='Adam', lr=0.0025, betas=(0.0, 0.99), eps=1e-8)),
    discriminator=dict(optimizer=dict(type='Adam', lr=0.0025, betas=(0.0, 0.99), eps=1e-8)),
)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=100_000)
