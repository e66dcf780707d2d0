# Conditional DCGAN for 28x28 grayscale images with 10 classes (MNIST, FashionMNIST).
# Label injection: Embedding(10, 50) -> Dense(H*W) -> one extra channel, in G and D.
model = dict(
    type='ConditionalGAN',
    generator=dict(type='ConditionalGenerator', latent_dim=100, num_classes=10,
                   out_channels=1, image_size=28, base_channels=64, label_mode='embedding'),
    discriminator=dict(type='ConditionalDiscriminator', in_channels=1, num_classes=10,
                       image_size=28, base_channels=64, conditioning='embedding'),
    gan_loss=dict(type='VanillaGANLoss', real_label=0.9),  # one-sided label smoothing
)
