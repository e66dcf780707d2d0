# pix2pix architectural labels -> photo (CMP Facades, 400 training images), 256x256,
# batch size 1, 200 epochs (40k constant lr + 40k linear decay). The facades files hold
# photo | labels, so direction='BtoA' makes the labels the input.
# Get the data: python tools/download_dataset.py facades
_base_ = [
    '../_base_/models/pix2pix_unet256.py', '../_base_/datasets/paired_base.py',
    '../_base_/schedules/adam_2e-4_linear-decay_80k.py', '../_base_/default_runtime.py',
]
train_dataloader = dict(dataset=dict(data_root='data/facades', direction='BtoA'))
