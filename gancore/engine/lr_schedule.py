"""The reference code's per-epoch linear learning-rate decay, for iteration-based training.

pytorch-CycleGAN-and-pix2pix keeps the lr constant for ``n_epochs`` epochs and
then decays it linearly over ``n_epochs_decay`` epochs, changing it once per
EPOCH: its scheduler (``LambdaLR``, stepped at the start of every epoch) gives
epoch ``e`` (1-based) the factor ::

    1 - max(0, e + 1 - n_epochs) / (n_epochs_decay + 1)

so with 100 + 100 epochs: epochs 1-99 at the full lr, epoch 100 at 100/101 of it,
..., epoch 200 at 0; the mean lr is 0.745 * lr (1.490e-4 for lr 2e-4).
gancore's default (``LinearLR`` from iteration ``n_epochs * L`` to the end, ``L``
= iterations per epoch) decays every iteration instead and reaches 0 only at
the last iteration: mean ~0.75 * lr (1.500e-4). :class:`EpochLinearDecayLR`
reproduces the reference exactly, iteration by iteration: iteration ``i``
(0-based) is in epoch ``i // L + 1``.
"""
from __future__ import annotations

from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler

from ..errors import ConfigError
from ..registry import PARAM_SCHEDULERS


def reference_lr_factor(epoch: int, n_epochs: int, n_epochs_decay: int) -> float:
    """The reference's lr factor during 1-based ``epoch`` (training from epoch 1)."""
    return 1.0 - max(0, epoch + 1 - n_epochs) / float(n_epochs_decay + 1)


@PARAM_SCHEDULERS.register_module()
class EpochLinearDecayLR(_ParamScheduler):
    """The reference per-epoch linear lr decay, stepped every iteration.

    In a config (the Runner passes ``epoch_length`` = ``len(train_dataloader)`` =
    ceil(dataset length / batch size) when ``convert_to_iter_based=True``)::

        param_scheduler = [dict(type='EpochLinearDecayLR', n_epochs=100,
                                n_epochs_decay=100, by_epoch=True,
                                convert_to_iter_based=True)]
        train_cfg = dict(max_iters=(100 + 100) * epoch_length)

    Args:
        optimizer: The optimizer (wrapper) whose lr is set.
        n_epochs: Epochs at the full lr (the reference's ``--n_epochs``, 100).
        n_epochs_decay: Epochs of linear decay (``--n_epochs_decay``, 100).
        epoch_length: Iterations per epoch (> 0).
        begin: Must be 0 (the schedule starts with training).
        end: Ignored upper bound (the Runner fills it in); the schedule runs
            to the end of training.
        last_step: mmengine's resume index. Default -1.
        by_epoch: Must be False once built (``build_iter_from_epoch`` sets it).
        verbose: Print every change. Default False.
        convert_to_iter_based: Write True in a config: mmengine's builder then
            passes ``epoch_length`` (it reads and removes the key before the
            constructor runs; listed here so that config validation knows it).
    """

    def __init__(self, optimizer, n_epochs: int, n_epochs_decay: int, epoch_length: int,
                 begin: int = 0, end: int = INF, last_step: int = -1, by_epoch: bool = False,
                 verbose: bool = False, convert_to_iter_based: bool = True) -> None:
        for name, value, low in (('n_epochs', n_epochs, 1), ('n_epochs_decay', n_epochs_decay, 0),
                                 ('epoch_length', epoch_length, 1)):
            if not isinstance(value, int) or value < low:
                raise ConfigError(f'EpochLinearDecayLR: {name} must be an integer >= {low}, '
                                  f'got {value!r}')
        if by_epoch or begin != 0:
            raise ConfigError('EpochLinearDecayLR changes the lr every iteration from the '
                              'start: set by_epoch=True with convert_to_iter_based=True in '
                              f'param_scheduler and no begin (got begin={begin}, '
                              f'by_epoch={by_epoch} after conversion)')
        self.n_epochs, self.n_epochs_decay = n_epochs, n_epochs_decay
        self.epoch_length = epoch_length
        super().__init__(optimizer, 'lr', begin=0, end=INF, last_step=last_step,
                         by_epoch=False, verbose=verbose)

    @classmethod
    def build_iter_from_epoch(cls, *args, epoch_length=None, by_epoch=True, begin=0,
                              end=INF, **kwargs):
        """Build from an epoch-based config; ``epoch_length`` comes from the Runner."""
        if epoch_length is None:
            raise ConfigError('EpochLinearDecayLR needs epoch_length (the Runner passes '
                              'len(train_dataloader) with convert_to_iter_based=True)')
        return cls(*args, epoch_length=epoch_length, begin=begin, by_epoch=False, **kwargs)

    def factor(self, iteration: int) -> float:
        """The lr factor during 0-based ``iteration``."""
        epoch = iteration // self.epoch_length + 1
        return max(0.0, reference_lr_factor(epoch, self.n_epochs, self.n_epochs_decay))

    def _get_value(self):
        f = self.factor(self.last_step)
        return [base * f for base in self.base_values]
