# CIFAR-10 in torchvision's on-disk format: data/cifar10/cifar-10-batches-py/
train_dataloader = dict(
    batch_size=64,
    num_workers=0,  # decoded once into memory
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='CIFAR10Dataset', data_root='data/cifar10', split='train', hflip=True),
)
