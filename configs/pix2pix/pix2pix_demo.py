# Embedded pix2pix demo (no download): colourise 64x64 grayscale patches of the two photos
# bundled with scikit-learn (china.jpg, flower.jpg, full size); a quarter of each photo's
# 64x64 tiles is held out. As the reference code's colorization model (L in, ab out), G
# draws only the colour and keeps the gray input as the luma: ChromaUNetGenerator, a small
# U-Net (6 downsamplings, 16 base channels) predicting Cb, Cr. A 2-layer PatchGAN (34x34
# patches); the grid shows gray input | output | colour target for 8 fixed training patches.
_base_ = [
    '../_base_/models/pix2pix_unet256.py', '../_base_/schedules/adam_2e-4_linear-decay_80k.py',
    '../_base_/default_runtime.py',
]
model = dict(
    generator=dict(_delete_=True, type='ChromaUNetGenerator', num_downs=6, base_channels=16),
    discriminator=dict(in_channels=4, base_channels=16, num_layers=2),
    # trained with batches of 8, so batch norm's running statistics are the right ones
    # at test time (the paper's test-time batch statistics suit batch size 1)
    paper_inference=False,
)
train_dataloader = dict(
    batch_size=8,
    num_workers=0,  # in memory: workers would only add IPC
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='PhotoColorizationPatches', split='train', patch_size=64),
)
# 2,000 iterations at lr 2e-4, then 2,000 of linear decay (1,000 + 1,000 left the sky gray:
# held-out MAE 0.099 against 0.093; docs/notes/benchmarks_log.md "Demo quality")
train_cfg = dict(max_iters=4000)
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, begin=2000, end=4000, by_epoch=False),
]
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=2000))
custom_hooks = [
    dict(type='SampleGridHook', interval=1000, num_inputs=8),
    dict(type='GANHealthHook', interval=50),
]
# CPU threads: torch's default (speed.num_threads unset). On a busy machine, tiny networks
# often train faster on one thread: gancore train CONFIG --num-threads 1.
