# DCGAN's Adam settings (lr 2e-4, beta1 0.5) for G and D; 20k iterations.
optim_wrapper = dict(
    constructor='GANOptimWrapperConstructor',
    generator=dict(optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999))),
    discriminator=dict(optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999))),
)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=20000)
