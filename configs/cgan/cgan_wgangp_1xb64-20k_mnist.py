# cGAN on MNIST with the WGAN-GP loss: 5 critic steps per generator step, lambda = 10.
_base_ = [
    '../_base_/models/cgan_28x28.py', '../_base_/datasets/mnist.py',
    '../_base_/schedules/adam_2e-4_20k.py', '../_base_/default_runtime.py',
]
model = dict(
    gan_loss=dict(_delete_=True, type='WGANLoss'),
    gp_loss=dict(type='GradientPenaltyLoss', loss_weight=10.0),
    discriminator=dict(dropout=0.0),
    disc_steps=5,
)
optim_wrapper = dict(  # WGAN-GP's Adam settings
    generator=dict(optimizer=dict(lr=1e-4, betas=(0.0, 0.9))),
    discriminator=dict(optimizer=dict(lr=1e-4, betas=(0.0, 0.9))))
train_cfg = dict(max_iters=100000)
