"""Fixed-seed sample grids written to the work dir and every visualizer backend."""
from __future__ import annotations

import os
import os.path as osp
from typing import Optional

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.visualization import MLflowVisBackend

from ..models.base_gan import unwrap
from ..models.modes import eval_mode
from ..registry import HOOKS
from ..inference.sampling import check_upscale, save_grid


@HOOKS.register_module()
class SampleGridHook(Hook):
    """Every ``interval`` iterations, save ``model.preview(...)`` as a PNG grid.

    The grid uses the same seed every time (and, for translation models, the
    same input images), so successive grids show how training changes the
    samples. cGANs give one row per class. Files go to
    ``<work_dir>/samples/iter_<N>.png`` and the ``samples`` image in
    TensorBoard (any visualizer backend).

    Args:
        interval: Iterations between grids. Default 500.
        seed: Seed of the fixed noise. Default 0.
        num_inputs: Images taken from the start of the training set for models
            whose preview needs inputs (translation). Default 4.
        out_dir: Sub-folder of the work dir. Default ``'samples'``.
        upscale: Enlarge each image this many times (nearest neighbour) in the
            grid, e.g. 4 for 16x16 samples: 1 (default, native size) to 64.
    """

    priority = 'LOW'

    def __init__(self, interval: int = 500, seed: int = 0, num_inputs: int = 4,
                 out_dir: str = 'samples', upscale: int = 1) -> None:
        self.interval, self.seed, self.num_inputs, self.out_dir = interval, seed, num_inputs, out_dir
        self.upscale = check_upscale(upscale, 'SampleGridHook: upscale')
        self._batch: Optional[dict] = None

    def before_train(self, runner) -> None:
        """Pick the fixed input batch from the first training items."""
        dataset = runner.train_dataloader.dataset
        items = [dataset[i] for i in range(min(self.num_inputs, len(dataset)))]
        self._batch = torch.utils.data.default_collate(items)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Write a grid every ``interval`` iterations."""
        if self.every_n_train_iters(runner, self.interval):
            self.write_grid(runner, runner.iter + 1)

    def after_train(self, runner) -> None:
        """Write the final grid (unless the last iteration just wrote it)."""
        if runner.iter % self.interval != 0:
            self.write_grid(runner, runner.iter)

    def write_grid(self, runner, step: int) -> Optional[str]:
        """Render and save one grid; returns its path (rank 0) or None."""
        if not is_main_process():
            return None
        model = unwrap(runner.model)
        batch = model.data_preprocessor(self._batch, False) if self._batch else None
        with eval_mode(model), torch.no_grad():
            images, nrow = model.preview(batch, seed=self.seed)
        images = (images.detach().float().cpu().clamp(-1, 1) + 1) / 2
        path = osp.join(runner.work_dir, self.out_dir, f'iter_{step}.png')
        os.makedirs(osp.dirname(path), exist_ok=True)
        grid = save_grid(images, path, nrow=nrow, padding=2, pad_value=1.0,
                         upscale=self.upscale)
        add_image(runner.visualizer, 'samples',
                  (grid.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy(), step)
        return path


def add_image(visualizer, name: str, image, step: int) -> None:
    """``visualizer.add_image`` on every backend, each under a name it can store.

    MLflow stores an image as an artifact file, which needs a file name (mmengine passes
    the bare name and MLflow then fails): it gets ``<name>/iter_<step>.png``; TensorBoard,
    W&B and the local backend get ``name`` and the step.
    """
    for backend in getattr(visualizer, '_vis_backends', {}).values():
        backend.add_image(f'{name}/iter_{step}.png' if isinstance(backend, MLflowVisBackend)
                          else name, image, step=step)
