# MNIST in torchvision's on-disk format: data/mnist/MNIST/raw/*-ubyte[.gz]
train_dataloader = dict(
    batch_size=64,
    num_workers=0,  # decoded once into memory
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='MNISTDataset', data_root='data/mnist', split='train', variant='MNIST'),
)
