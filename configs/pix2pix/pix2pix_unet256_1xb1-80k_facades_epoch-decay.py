# facades with the reference code's exact lr schedule: constant for 100 epochs, then
# decayed linearly once per EPOCH over 100 epochs (mean lr 1.490e-4 instead of gancore's
# per-iteration 1.500e-4). One epoch = len(train_dataloader) iterations (400 here).
_base_ = ['./pix2pix_unet256_1xb1-80k_facades.py']
param_scheduler = [
    dict(type='EpochLinearDecayLR', n_epochs=100, n_epochs_decay=100, by_epoch=True,
         convert_to_iter_based=True),
]
