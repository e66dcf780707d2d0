# Progressive GAN on CelebA faces at 64x64 (unconditional), the paper's schedule:
# 4x4 .. 16x16 at batch 128, 32x32 at 64, 64x64 at 32 (fade-in 600k + 600k images stable).
# Data: the aligned CelebA images, data/celeba/img_align_celeba/*.jpg (178x218); the central
# 128x128 crop holds the face (as in the paper's dataset tool), resized to 64x64.
_base_ = [
    '../_base_/models/progan_128x128.py', '../_base_/schedules/progan_600kimg.py',
]
model = dict(generator=dict(max_resolution=64), discriminator=dict(max_resolution=64))
train_dataloader = dict(
    batch_size=32,  # resolutions missing from progressive_data.batch_sizes
    num_workers=4,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),  # unused: ProgressiveDataHook orders
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageFolderDataset', data_root='data/celeba/img_align_celeba',
                 channels=3, center_crop=128, size=64, hflip=True),
)
train_cfg = dict(max_iters=80_000)
