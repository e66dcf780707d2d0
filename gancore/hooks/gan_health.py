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
    * histograms ``D_real`` / ``D_fake`` of the raw outputs in TensorBoard.

    Args:
        interval: Iterations between logs. Default 50.
        histograms: Also write histograms to TensorBoard. Default True.
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
            writer = getattr(backend, 'experiment', None)
            if writer is not None and hasattr(writer, 'add_histogram'):
                writer.add_histogram('D_real', real, step)
                writer.add_histogram('D_fake', fake, step)
