# Progressive GAN on CIFAR-10 (unconditional), growing 4x4 -> 32x32 with the paper's schedule:
# 4x4 4.7k iters, 8x8 9.4k, 16x16 9.4k (batch 128), 32x32 fade-in + 600k images (batch 64).
_base_ = [
    '../_base_/models/progan_128x128.py', '../_base_/datasets/cifar10.py',
    '../_base_/schedules/progan_600kimg.py',
]
model = dict(generator=dict(max_resolution=32), discriminator=dict(max_resolution=32))
train_cfg = dict(max_iters=43_000)
