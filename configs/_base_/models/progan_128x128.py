# Progressive GAN (Karras et al., ICLR 2018) growing 4x4 -> 128x128, RGB, unconditional.
# The paper's widths: 512 feature maps up to 32x32, 256 at 64x64, 128 at 128x128; latent 512;
# WGAN-GP (lambda 10) + drift 0.001 * D(real)^2; EMA of G (0.999) for sampling.
model = dict(
    type='ProgressiveGAN',
    generator=dict(type='ProGANGenerator', latent_dim=512, out_channels=3, max_resolution=128),
    discriminator=dict(type='ProGANDiscriminator', in_channels=3, max_resolution=128,
                       mbstd_group_size=4),
    gan_loss=dict(type='WGANLoss'),
    gp_loss=dict(type='GradientPenaltyLoss', loss_weight=10.0),
    drift_loss=dict(type='DriftLoss', loss_weight=0.001),
    disc_steps=1,
    ema_decay=0.999,
)
