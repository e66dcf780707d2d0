# Progressive GAN on CelebA faces at 128x128: the 64x64 experiment grown one level further
# (128x128 at batch 16: fade-in 37.5k + stable 37.5k iterations).
_base_ = ['./progan_64x64_1xb128-80k_celeba.py']
model = dict(generator=dict(max_resolution=128), discriminator=dict(max_resolution=128))
train_dataloader = dict(dataset=dict(size=128))
train_cfg = dict(max_iters=155_000)
