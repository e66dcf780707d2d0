# scikit-learn's bundled handwritten digits (8x8, up-sampled to 16x16): no download.
train_dataloader = dict(
    batch_size=64,
    num_workers=0,  # in memory: workers would only add IPC
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='SklearnDigitsDataset', split='train', image_size=16),
)
