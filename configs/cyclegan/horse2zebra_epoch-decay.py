# horse2zebra with the reference code's exact lr schedule: constant for 100 epochs, then
# decayed linearly once per EPOCH over 100 epochs (99 epochs at 2e-4, the last one at 0;
# mean lr 1.490e-4), instead of gancore's per-iteration decay (mean 1.500e-4).
# One epoch = len(train_dataloader) iterations (1,334 here), passed by the Runner.
_base_ = ['./horse2zebra.py']
param_scheduler = [
    dict(type='EpochLinearDecayLR', n_epochs=100, n_epochs_decay=100, by_epoch=True,
         convert_to_iter_based=True),
]
