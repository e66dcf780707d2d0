# Embedded demo: a small class-conditional StyleGAN2 on scikit-learn's bundled digits (no
# download), 32x32 grayscale, one row per digit in the sample grid. Narrow networks (32 channels
# up to 16x16, 16 at 32x32), w of 64 with a 2-layer mapping, batch 32, lr 0.0025, minibatch-std
# groups of 4, the four phases (R1 every 16, path length every 4, style mixing 0.9), G EMA with
# NVlabs' 'auto' half-life (batch * 10 / 32 = 10k images) ramped up over the first 5 % of the
# images, and ADA (1,438 training images: the limited-data case ADA is for).
_base_ = [
    '../_base_/models/stylegan2_256x256.py', '../_base_/datasets/digits.py',
    '../_base_/schedules/stylegan2_adam.py',
]
_nets = dict(resolution=32, num_classes=10, channel_base=512, channel_max=32, num_fp16_res=0,
             conv_clamp=None)
model = dict(
    generator=dict(latent_dim=64, w_dim=64, out_channels=1, mapping_layers=2, **_nets),
    discriminator=dict(in_channels=1, mapping_layers=2, **_nets),
    r1_loss=dict(gamma=0.01),  # NVlabs' heuristic 0.0002 * 32^2 / 32 = 0.0064, rounded
    ema_kimg=10.0,
    ema_rampup=0.05,
    augment=dict(type='ADA', target=0.6, interval=4, kimg=100),
)
train_dataloader = dict(batch_size=32, dataset=dict(image_size=32))
train_cfg = dict(max_iters=2000)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=500))
custom_hooks = [
    dict(type='SampleGridHook', interval=500),
    dict(type='GANHealthHook', interval=50),
]
