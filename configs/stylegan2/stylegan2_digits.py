# Embedded demo: a small class-conditional StyleGAN2 on scikit-learn's bundled digits (no
# download), 32x32 grayscale, one row per digit in the sample grid. Narrow networks (32 channels
# up to 16x16, 16 at 32x32), w of 64 with a 2-layer mapping, batch 32, lr 0.0025, minibatch-std
# groups of 4, G EMA. Until the training phases are wired, BaseGAN's train_step runs the main
# losses only (no R1, no path length): docs/models/stylegan2.md.
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
    ema_decay=0.99,
)
train_dataloader = dict(batch_size=32, dataset=dict(image_size=32))
train_cfg = dict(max_iters=3000)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=1000))
custom_hooks = [
    dict(type='SampleGridHook', interval=500),
    dict(type='GANHealthHook', interval=50),
]
