# CycleGAN Yosemite summer <-> winter, 256x256, batch size 1, 200 epochs of
# max(1231, 962) = 1231 iterations: 123,100 constant + 123,100 linear decay.
# Get the data: python tools/download_dataset.py summer2winter_yosemite
_base_ = ['./horse2zebra.py']
train_dataloader = dict(dataset=dict(data_root='data/summer2winter_yosemite'))
train_cfg = dict(max_iters=246200)
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, begin=123100, end=246200,
         by_epoch=False),
]
