# StyleGAN2 + ADA's "cifar" configuration (Karras et al., NeurIPS 2020): class-conditional
# CIFAR-10 at 32x32, x-flips. Published: FID 2.42 (50k samples vs. the training set) with ADA,
# the record the paper reports (docs/models/stylegan2.md). Settings of the reference's --cfg=cifar
# on one process: batch 64 (the paper: 2 GPUs x 32), 100,000 kimg = 1,562,500 iterations,
# mapping 2 layers, 512 channels at every resolution (channel_base 32768), minibatch-std groups
# of 32, lr 0.0025, R1 gamma 0.01, no path-length penalty and no style mixing, G EMA with a
# half-life of 500k images (decay 0.5 ** (64 / 500_000); NVlabs also ramps the half-life up over
# the first 5 % of training: not wired yet). ADA itself comes with the augmentation registry.
_base_ = [
    '../_base_/models/stylegan2_256x256.py', '../_base_/datasets/cifar10.py',
    '../_base_/schedules/stylegan2_adam.py',
]
model = dict(
    generator=dict(resolution=32, num_classes=10, mapping_layers=2),
    discriminator=dict(resolution=32, num_classes=10, mbstd_group_size=32),
    r1_loss=dict(gamma=0.01),
    pl_loss=dict(loss_weight=0.0),
    style_mixing_prob=0.0,
    ema_decay=0.99991128,
)
train_dataloader = dict(batch_size=64)
train_cfg = dict(max_iters=1_562_500)
default_hooks = dict(checkpoint=dict(interval=10_000))
custom_hooks = [
    dict(type='SampleGridHook', interval=10_000),
    dict(type='GANHealthHook', interval=1_000),
]
