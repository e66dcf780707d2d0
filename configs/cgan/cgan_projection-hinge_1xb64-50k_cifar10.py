# Projection-discriminator cGAN on CIFAR-10 (32x32x3) with the hinge loss and EMA sampling.
_base_ = [
    '../_base_/models/cgan_28x28.py', '../_base_/datasets/cifar10.py',
    '../_base_/schedules/adam_2e-4_20k.py', '../_base_/default_runtime.py',
]
model = dict(
    generator=dict(out_channels=3, image_size=32, base_channels=128),
    discriminator=dict(in_channels=3, image_size=32, base_channels=128,
                       conditioning='projection'),
    gan_loss=dict(_delete_=True, type='HingeGANLoss'),
    ema_decay=0.999,
)
train_cfg = dict(max_iters=50000)
