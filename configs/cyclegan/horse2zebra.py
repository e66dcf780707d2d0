# CycleGAN horse <-> zebra (the paper's headline experiment), 256x256, batch size 1,
# 200 epochs (266,800 iterations). Get the data: python tools/download_dataset.py horse2zebra
_base_ = [
    '../_base_/models/cyclegan_resnet9.py', '../_base_/datasets/unpaired_base.py',
    '../_base_/schedules/adam_2e-4_linear-decay_266800.py', '../_base_/default_runtime.py',
]
train_dataloader = dict(dataset=dict(data_root='data/horse2zebra'))
