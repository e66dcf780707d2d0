# CycleGAN's schedule on horse2zebra: Adam lr 2e-4, betas (0.5, 0.999) for G and D; lr
# constant for 100 epochs, then linear decay to 0 over 100 epochs, batch size 1.
# Iteration-based (IterBasedTrainLoop): 1 epoch = max(|trainA|, |trainB|) / batch size
# iterations = max(1067, 1334) = 1334 -> 133,400 constant + 133,400 decay = 266,800.
# A config for another dataset overrides train_cfg.max_iters and param_scheduler
# (see adam_2e-4_linear-decay_80k.py for the rule).
_base_ = ['./adam_2e-4_linear-decay_80k.py']
train_cfg = dict(max_iters=266800)
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, begin=133400, end=266800,
         by_epoch=False),
]
