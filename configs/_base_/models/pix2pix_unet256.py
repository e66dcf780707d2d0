# pix2pix (Isola et al., 2017) for 256x256 RGB -> RGB: U-Net G (unet_256), 70x70 PatchGAN D
# seeing (input, output) pairs (3 + 3 channels), vanilla cGAN loss + 100 * L1, batch norm.
model = dict(
    type='Pix2Pix',
    generator=dict(type='UNetGenerator', in_channels=3, out_channels=3, num_downs=8,
                   base_channels=64, norm='batch', use_dropout=True),
    discriminator=dict(type='PatchDiscriminator', in_channels=6, base_channels=64,
                       num_layers=3, norm='batch'),
    gan_loss=dict(type='VanillaGANLoss'),
    pixel_loss=dict(type='L1Loss', loss_weight=100.0),  # lambda_L1
    paper_inference=True,  # test time: dropout on, batch norm on the test batch (the paper)
)
