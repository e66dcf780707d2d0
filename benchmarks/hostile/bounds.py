"""Sizes and counts far beyond any real config: refused by the config check, before any work.

Each runs ``gancore print-config``, which validates the config as ``gancore train`` does
(the rule and the maxima: docs/config.md, "Bounds").
"""
from __future__ import annotations

from . import REPO, case, gancore, one_error_line

DIGITS = REPO / 'configs/cgan/cgan_digits.py'
FACADES = REPO / 'configs/pix2pix/pix2pix_unet256_1xb1-80k_facades.py'


def refused(config, option: str, key: str) -> str:
    return one_error_line(gancore('print-config', config, '--cfg-options', option), key,
                          'at most')


@case('hangs and unbounded resources', 'crop_size=100000 of a pix2pix dataset: refused before '
      'anything is built')
def crop_size_huge(run):
    return refused(FACADES, 'train_dataloader.dataset.crop_size=100000',
                   'train_dataloader.dataset.crop_size=100000')


@case('hangs and unbounded resources', 'image_size=100000 of the digits dataset: refused before '
      'anything is built')
def dataset_image_size_huge(run):
    return refused(DIGITS, 'train_dataloader.dataset.image_size=100000',
                   'train_dataloader.dataset.image_size=100000')


@case('hangs and unbounded resources', 'batch_size=10**9: refused before anything is built')
def batch_size_huge(run):
    return refused(DIGITS, f'train_dataloader.batch_size={10 ** 9}',
                   'train_dataloader.batch_size=1000000000')


@case('hangs and unbounded resources', 'num_workers=1000: refused before any worker starts')
def num_workers_huge(run):
    return refused(DIGITS, 'train_dataloader.num_workers=1000', 'train_dataloader.num_workers')


@case('hangs and unbounded resources', 'latent_dim=10**9: refused before anything is built')
def latent_dim_huge(run):
    return refused(DIGITS, f'model.generator.latent_dim={10 ** 9}', 'model.generator.latent_dim')


@case('hangs and unbounded resources', 'max_iters=10**12: refused before anything is built')
def max_iters_huge(run):
    return refused(DIGITS, f'train_cfg.max_iters={10 ** 12}', 'train_cfg.max_iters')
