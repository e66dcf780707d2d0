# CycleGAN (Zhu et al., 2017) for 256x256 RGB <-> RGB: two ResNet-9 generators (instance
# norm), two 70x70 PatchGAN discriminators (3 layers, instance norm), LSGAN loss, cycle
# weights lambda_A = lambda_B = 10, identity weight 0.5 (x lambda), a 50-image history
# pool per discriminator. discriminator_a judges domain A, discriminator_b domain B.
model = dict(
    type='CycleGAN',
    generator_ab=dict(type='ResnetGenerator', in_channels=3, out_channels=3, base_channels=64,
                      num_blocks=9, norm='instance', use_dropout=False),
    generator_ba=dict(type='ResnetGenerator', in_channels=3, out_channels=3, base_channels=64,
                      num_blocks=9, norm='instance', use_dropout=False),
    discriminator_a=dict(type='PatchDiscriminator', in_channels=3, base_channels=64,
                         num_layers=3, norm='instance'),
    discriminator_b=dict(type='PatchDiscriminator', in_channels=3, base_channels=64,
                         num_layers=3, norm='instance'),
    gan_loss=dict(type='LSGANLoss'),
    lambda_a=10.0,
    lambda_b=10.0,
    lambda_identity=0.5,
    image_pool=dict(type='HistoryImagePool', pool_size=50),
)
