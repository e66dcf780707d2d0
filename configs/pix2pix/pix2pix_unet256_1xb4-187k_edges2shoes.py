# pix2pix edges -> shoes (UT Zappos50K, 49,825 training images), 256x256, batch size 4,
# 15 epochs of ceil(49825 / 4) = 12,457 iterations = 186,855 (the paper's setting); lr
# constant for the first half, then linear decay to 0. The images are already 256x256
# per side: no resize/crop jitter and no flip.
# Get the data: python tools/download_dataset.py edges2shoes
_base_ = [
    '../_base_/models/pix2pix_unet256.py', '../_base_/datasets/paired_base.py',
    '../_base_/schedules/adam_2e-4_linear-decay_80k.py', '../_base_/default_runtime.py',
]
train_dataloader = dict(
    batch_size=4,
    dataset=dict(data_root='data/edges2shoes', direction='AtoB', preprocess='none', flip=False))
train_cfg = dict(max_iters=186855)
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, begin=93428, end=186855,
         by_epoch=False),
]
