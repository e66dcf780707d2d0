"""GAN health: D(real), D(fake), D accuracy and their histograms."""
from __future__ import annotations

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from ..models.base_gan import unwrap
from ..registry import HOOKS


@HOOKS.register_module()
class GANHealthHook(Hook):
    """Log the discriminator's view of real and fake images.

    Reads ``model.last_disc_outputs`` (raw D outputs recorded by the model's
    discriminator step, keys ``real`` and ``fake``) and logs every
    ``interval`` iterations:

    * ``D_real`` / ``D_fake``: mean sigmoid of D's logits (the probability D
      gives "real"); for WGAN/hinge critics read the raw means ``D_real_raw`` /
      ``D_fake_raw``. D_real -> 1 and D_fake -> 0 together mean D wins and G's
      gradients vanish; D_fake stuck near 0.5 with collapsing sample diversity is
      typical of mode collapse;
    * ``D_acc``: share of real scored > 0 and fake scored < 0;
    * histograms ``D_real`` / ``D_fake`` of the raw outputs, to every visualizer backend
      that takes histograms (:func:`write_histograms`: TensorBoard, Weights & Biases;
      MLflow and the local JSON backend have none and get the scalars only).

    Args:
        interval: Iterations between logs. Default 50.
        histograms: Also write the histograms. Default True.
    """

    priority = 'NORMAL'

    def __init__(self, interval: int = 50, histograms: bool = True) -> None:
        self.interval, self.histograms = interval, histograms

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Log the health scalars and histograms."""
        if not self.every_n_train_iters(runner, self.interval):
            return
        outs = getattr(unwrap(runner.model), 'last_disc_outputs', {})
        real, fake = outs.get('real'), outs.get('fake')
        if real is None or fake is None:
            return
        real, fake = real.detach().float().flatten(), fake.detach().float().flatten()
        stats = {
            'D_real': torch.sigmoid(real).mean(), 'D_fake': torch.sigmoid(fake).mean(),
            'D_real_raw': real.mean(), 'D_fake_raw': fake.mean(),
            'D_acc': ((real > 0).float().mean() + (fake < 0).float().mean()) / 2,
        }
        for key, value in stats.items():
            runner.message_hub.update_scalar(f'train/{key}', float(value))
        if self.histograms and is_main_process():
            self._write_histograms(runner, real.cpu(), fake.cpu(), runner.iter + 1)

    @staticmethod
    def _write_histograms(runner, real, fake, step: int) -> None:
        for backend in getattr(runner.visualizer, '_vis_backends', {}).values():
            write_histograms(backend, {'D_real': real, 'D_fake': fake}, step)


def write_histograms(backend, values: dict, step: int) -> bool:
    """Write one histogram per ``values`` entry to an mmengine visualizer backend.

    * TensorBoard (its ``experiment`` is a ``SummaryWriter``): ``add_histogram`` at ``step``;
    * Weights & Biases (its ``experiment`` is the ``wandb`` module): ``hist/<name>`` as
      ``wandb.Histogram`` (W&B keeps one value per key, and the scalars own ``<name>``),
      logged with ``commit=False`` so that they join the step of the scalars the logger
      hook commits next (mmengine's backend lets W&B count the steps).

    Other backends (MLflow, the local JSON files) have no histograms: nothing is written.

    Args:
        backend: An mmengine ``BaseVisBackend``.
        values: Name -> 1-D CPU tensor of values.
        step: The iteration.

    Returns:
        Whether the backend took the histograms.
    """
    experiment = getattr(backend, 'experiment', None)
    if hasattr(experiment, 'add_histogram'):
        for name, value in values.items():
            experiment.add_histogram(name, value, step)
        return True
    if hasattr(experiment, 'Histogram') and hasattr(experiment, 'log'):
        experiment.log({f'hist/{name}': experiment.Histogram(value.numpy())
                        for name, value in values.items()}, commit=False)
        return True
    return False
