# Embedded CycleGAN demo (no download): scikit-learn's handwritten digits (A: white on black,
# 1 channel) <-> MNIST-M-style digits on colour photo patches (B: 3 channels), 32x32,
# unpaired (disjoint digits). Small ResNet generators (16 base channels, 2 blocks) and
# 2-layer PatchGANs. A and B differ in channels, so there is no identity loss. The grid
# shows real A | G_AB(A) | G_BA(G_AB(A)) | real B | G_BA(B) | G_AB(G_BA(B)).
_base_ = [
    '../_base_/models/cyclegan_resnet9.py',
    '../_base_/schedules/adam_2e-4_linear-decay_266800.py', '../_base_/default_runtime.py',
]
model = dict(
    generator_ab=dict(in_channels=1, out_channels=3, base_channels=16, num_blocks=2),
    generator_ba=dict(in_channels=3, out_channels=1, base_channels=16, num_blocks=2),
    discriminator_a=dict(in_channels=1, base_channels=16, num_layers=2),
    discriminator_b=dict(in_channels=3, base_channels=16, num_layers=2),
    lambda_identity=0.0,
)
train_dataloader = dict(
    batch_size=4,
    num_workers=0,  # in memory: workers would only add IPC
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='DigitsMNISTMUnpaired', split='train', image_size=32),
)
train_cfg = dict(max_iters=2000)
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, begin=1000, end=2000,
         by_epoch=False),
]
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=1000))
custom_hooks = [
    dict(type='SampleGridHook', interval=500, num_inputs=8),
    dict(type='GANHealthHook', interval=50),
]
# CPU threads: torch's default (speed.num_threads unset). On a busy machine, tiny networks
# often train faster on one thread: gancore train CONFIG --num-threads 1.
