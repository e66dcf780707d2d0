# StyleGAN2 config F (Karras et al., CVPR 2020) as in the ADA code, 256x256 RGB, unconditional:
# 8-layer mapping network (lr multiplier 0.01, w_avg decay 0.995), skip generator with modulated
# convolutions and noise inputs, residual discriminator with minibatch std; the 4 highest
# resolutions in float16 on CUDA with the conv clamp 256 (CPU: float32). Losses: non-saturating
# logistic, R1 (gamma 10) every 16 D steps, path length (weight 2, decay 0.01, batch / 2) every
# 4 G steps, style mixing 0.9. The regularisers run only once the training phases are wired
# (docs/models/stylegan2.md); BaseGAN's train_step runs the two main losses.
model = dict(
    type='StyleGAN2',
    generator=dict(type='StyleGAN2Generator', latent_dim=512, w_dim=512, resolution=256,
                   out_channels=3, mapping_layers=8, channel_base=32768, channel_max=512,
                   num_fp16_res=4, conv_clamp=256.0),
    discriminator=dict(type='StyleGAN2Discriminator', resolution=256, in_channels=3,
                       channel_base=32768, channel_max=512, num_fp16_res=4, conv_clamp=256.0,
                       mbstd_group_size=4),
    gan_loss=dict(type='NonSaturatingGANLoss'),
    r1_loss=dict(type='R1Penalty', gamma=10.0),
    pl_loss=dict(type='PathLengthRegularizer', loss_weight=2.0, decay=0.01),
    style_mixing_prob=0.9,
    pl_batch_shrink=2,
    g_reg_interval=4,
    d_reg_interval=16,
    ema_decay=0.999,
)
