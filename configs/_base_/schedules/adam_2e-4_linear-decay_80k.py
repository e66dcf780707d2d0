# pix2pix / CycleGAN schedule: Adam lr 2e-4, betas (0.5, 0.999) for G and D; lr constant
# for 100 epochs, then linear decay to 0 over 100 epochs. Training is iteration-based
# (IterBasedTrainLoop), so epochs are written as iterations:
#     1 epoch = ceil(dataset length / batch size) iterations
# (dataset length: the number of A|B images; for unpaired data max(|A|, |B|)).
# Here: 400 images (facades) at batch size 1 -> 40k constant + 40k decay = 80k iterations.
# A config for another dataset overrides train_cfg.max_iters and param_scheduler.
optim_wrapper = dict(
    constructor='GANOptimWrapperConstructor',
    generator=dict(optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999))),
    discriminator=dict(optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999))),
)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=80000)
# one list, applied to both optimizers; factor 1 -> 0 linearly over [begin, end)
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, begin=40000, end=80000,
         by_epoch=False),
]
