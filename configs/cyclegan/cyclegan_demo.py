# Embedded CycleGAN demo (no download): scikit-learn's handwritten digits (A: white on black,
# 1 channel) <-> MNIST-M-style digits on colour photo patches (B: 3 channels), 32x32,
# unpaired (disjoint digits). Small ResNet generators (16 base channels, 2 blocks) and the
# paper's 3-layer PatchGANs (16 base channels). A and B differ in channels, so there is no
# identity loss; the B cycle is weighted lower than the A cycle (seeds and figures of each
# choice: docs/notes/benchmarks_log.md "Demo quality").
# The grid shows real A | G_AB(A) | G_BA(G_AB(A)) | real B | G_BA(B) | G_AB(G_BA(B)).
_base_ = [
    '../_base_/models/cyclegan_resnet9.py',
    '../_base_/schedules/adam_2e-4_linear-decay_266800.py', '../_base_/default_runtime.py',
]
model = dict(
    generator_ab=dict(in_channels=1, out_channels=3, base_channels=16, num_blocks=2),
    generator_ba=dict(in_channels=3, out_channels=1, base_channels=16, num_blocks=2),
    discriminator_a=dict(in_channels=1, base_channels=16),
    discriminator_b=dict(in_channels=3, base_channels=16),
    lambda_identity=0.0,
    # B -> A -> B cycle weighted 2, not 10: G_AB cannot rebuild B's photo background from a
    # digit; at 10 G_BA hid the photo in a speckled background of G_BA(b) and the digits
    # suffered (seeds 0-7 score 0.656-0.700, before 0.572-0.633; docs/notes/benchmarks_log.md)
    lambda_b=2.0,
    # noise on G_AB(a) / G_BA(b) before the cycle back: without it some seeds hid the photo
    # in a faint texture of G_BA(b), drew another digit and scored 0.24-0.29
    cycle_noise_std=0.05,
)
train_dataloader = dict(
    batch_size=4,
    num_workers=0,  # in memory: workers would only add IPC
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    # photo_scale=1.0: 32x32 crops of the full-size photos, as MNIST-M crops full-size BSDS
    # images (0.25 packed a quarter of a photo into each patch: busier backgrounds)
    dataset=dict(type='DigitsMNISTMUnpaired', split='train', image_size=32, photo_scale=1.0),
)
train_cfg = dict(max_iters=1600)
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, begin=800, end=1600,
         by_epoch=False),
]
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=400))
custom_hooks = [
    dict(type='SampleGridHook', interval=400, num_inputs=8, upscale=2),
    dict(type='GANHealthHook', interval=50),
]
# CPU threads: torch's default (speed.num_threads unset). On a busy machine, tiny networks
# often train faster on one thread: gancore train CONFIG --num-threads 1.
