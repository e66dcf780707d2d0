# StyleGAN2 + ADA's "paper256" configuration: FFHQ at 256x256 (70k images, x-flips), as the
# ADA paper trains FFHQ and LSUN Cat at 256x256. Settings of the reference's --cfg=paper256 on
# one process: batch 64 (the paper: 8 GPUs x 8), 25,000 kimg = 390,625 iterations, mapping 8
# layers, channel_base 16384 (512 channels up to 32x32, 256 at 64x64, 128 at 128x128, 64 at
# 256x256), minibatch-std groups of 8, lr 0.0025, R1 gamma 1, path length 2, style mixing 0.9,
# G EMA with a half-life of 20k images (decay 0.5 ** (64 / 20_000)). Data: a folder of 256x256
# images (the reference resizes FFHQ with a box filter: see docs/models/stylegan2.md). ADA comes
# with the augmentation registry; the regularisers with the training phases.
_base_ = [
    '../_base_/models/stylegan2_256x256.py', '../_base_/datasets/image_folder_loader.py',
    '../_base_/schedules/stylegan2_adam.py',
]
model = dict(
    generator=dict(channel_base=16384),
    discriminator=dict(channel_base=16384, mbstd_group_size=8),
    r1_loss=dict(gamma=1.0),
    ema_decay=0.997784,
)
train_dataloader = dict(
    batch_size=64,
    dataset=dict(type='ImageFolderDataset', data_root='data/ffhq256', size=256, hflip=True),
)
train_cfg = dict(max_iters=390_625)
default_hooks = dict(checkpoint=dict(interval=5_000))
custom_hooks = [
    dict(type='SampleGridHook', interval=5_000),
    dict(type='GANHealthHook', interval=500),
]
