# pix2pix aerial photo -> map (1096 training images), 256x256, batch size 1, 200 epochs
# (109,600 constant lr + 109,600 linear decay). direction='BtoA' gives map -> aerial.
# Get the data: python tools/download_dataset.py maps
_base_ = [
    '../_base_/models/pix2pix_unet256.py', '../_base_/datasets/paired_base.py',
    '../_base_/schedules/adam_2e-4_linear-decay_80k.py', '../_base_/default_runtime.py',
]
train_dataloader = dict(dataset=dict(data_root='data/maps', direction='AtoB'))
train_cfg = dict(max_iters=219200)
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, begin=109600, end=219200,
         by_epoch=False),
]
