# CycleGAN Monet paintings <-> photos, 256x256, batch size 1, 200 epochs of
# max(1072, 6287) = 6287 iterations: 628,700 constant + 628,700 linear decay.
# The paper's painting experiments keep the identity loss (0.5 x lambda) to preserve
# colour composition. Get the data: python tools/download_dataset.py monet2photo
_base_ = ['./horse2zebra.py']
train_dataloader = dict(dataset=dict(data_root='data/monet2photo'))
train_cfg = dict(max_iters=1257400)
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, begin=628700, end=1257400,
         by_epoch=False),
]
