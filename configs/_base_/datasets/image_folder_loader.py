# Loader settings shared by the image-folder datasets (pix2pix / CycleGAN layouts): batch 1,
# images decoded in worker processes kept alive between epochs. 4 workers suit a GPU machine;
# on a 2-core CPU pass --cfg-options train_dataloader.num_workers=2.
train_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
)
