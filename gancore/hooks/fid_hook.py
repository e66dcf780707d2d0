"""FID and the other metrics during training, for every model, with the best checkpoint kept.

Config (unconditional / class-conditional models)::

    custom_hooks = [
        dict(type='MetricsHook', interval=5000, real_stats='data/celeba_stats.npz',
             metrics=['fid', 'kid'], num_samples=10000, batch_size=50),
    ]

Translation models (pix2pix, CycleGAN) translate a held-out split instead::

    custom_hooks = [
        dict(type='MetricsHook', interval=5000, metrics=['fid', 'kid'],
             test_split='data/horse2zebra'),              # testA/ + testB/
        # or test_split=dict(type='DigitsMNISTMUnpaired', split='test', image_size=32)
    ]

``FIDHook`` is the same hook under its old name. Create real statistics once with
``python tools/eval_fid.py FOLDER --save-stats stats.npz`` (they then hold the
features for KID and precision/recall too). Every evaluation appends one JSON
line to ``<work_dir>/metrics.jsonl``: the iteration, the metric card
(:mod:`gancore.evaluation.card`) and the comparisons, in ``eval-fid``'s record
layout (:mod:`gancore.evaluation.report`).
"""
from __future__ import annotations

import datetime
import json
import os
import os.path as osp
import warnings
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
import torch.distributed as torch_dist
from mmengine.dist import barrier, broadcast_object_list, is_distributed, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..errors import ConfigError
from ..registry import HOOKS

_INFO_SCORE = 'FIDHook.best_score'
_INFO_CKPT = 'FIDHook.best_ckpt'
#: Display names of the metric values (TensorBoard tags, checkpoint names).
_LABELS = {'fid': 'FID', 'kid': 'KID', 'is': 'IS', 'precision': 'precision',
           'recall': 'recall', 'swd': 'SWD', 'ms_ssim': 'MS-SSIM'}
_MAIN = {'fid': 'fid', 'kid': 'kid', 'is': 'is', 'pr': 'precision', 'swd': 'swd',
         'ms_ssim': 'ms_ssim'}
#: The file in the work dir that gets one JSON record per evaluation.
RECORDS = 'metrics.jsonl'


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DDP/DataParallel wrapper, or the model itself."""
    if is_model_wrapper(model) or isinstance(
            model, (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)):
        return model.module
    return model


@HOOKS.register_module()
class MetricsHook(Hook):
    """Every ``interval`` iterations (and after training) evaluate the model.

    Unconditional and conditional models generate ``num_samples`` images with
    ``model.generate_for_eval(num_samples, batch_size, seed)`` (in [-1, 1],
    quantized to 8 bits like saved PNGs) and are scored against ``real_stats``.
    Translation models (``model.translate``) translate the A images of
    ``test_split`` (and the B images for CycleGAN) and are scored against the
    target domain's images of the same split (cached after the first time).

    Only rank 0 measures; the other ranks wait and receive the values. Each
    evaluation is written ONCE: every value as ``metrics/<Name>`` in the message
    hub (a key that mmengine's LoggerHook does not re-log; ``train/`` keys are
    re-written by it at every logging step), one ``add_scalars`` call to the
    visualizer (TensorBoard tags ``FID``, ``KID``, ... or ``AtoB/FID``) and one
    log line; rank 0 appends the record (metric card and comparisons) to
    ``<work_dir>/metrics.jsonl``. Values from weights that are not the official
    file are marked "not comparable with published FIDs" in the log line and the
    card. Rank 0 keeps ``best_<Name>_iter_<N>.pth`` (weights only) for
    ``best_metric``, deleting the previous best; the best score survives a resume.

    Args:
        interval: Training iterations between evaluations.
        real_stats: Real data of generating models: an ``.npz`` statistics/feature
            file, or an image folder (its statistics and features are cached as
            ``<work_dir>/fid_real_stats.npz``; SWD needs the folder).
        num_samples: Generated samples per evaluation.
        batch_size: Generation/translation and Inception batch size.
        inception_weights: Path of ``pt_inception-2015-12-05-6726825d.pth``.
        save_best: Keep the best checkpoint.
        seed: Sampling (and translation-noise, SWD) seed.
        metrics: Names from ``fid, kid, is, pr, swd, ms_ssim``.
        best_metric: The value that picks the best checkpoint: ``'fid'``,
            ``'kid'``, ``'is'``, ``'precision'``, ``'recall'``, ``'swd'``,
            ``'ms_ssim'`` (lower/higher is better is known per metric); for
            translation models the mean over the directions, or one direction
            as ``'AtoB/fid'``. Default: the first metric's main value.
        dims: Inception feature layer (2048, 768, 192, 64).
        test_split: Held-out split of translation models: a folder (``testA`` +
            ``testB``, or paired ``test``) or a dataset config with ``img_A`` /
            ``img_B`` items (e.g. the training dataset with ``split='test'``).
        kid_subsets: KID subsets (100).
        kid_subset_size: KID subset size (1000, capped by the sample counts).
    """

    priority = 'NORMAL'

    def __init__(self, interval: int, real_stats: Optional[str] = None,
                 num_samples: int = 10000, batch_size: int = 50,
                 inception_weights: Optional[str] = None, save_best: bool = True,
                 seed: int = 0, metrics: Sequence[str] = ('fid',),
                 best_metric: Optional[str] = None, dims: int = 2048,
                 test_split: Union[str, dict, None] = None, kid_subsets: int = 100,
                 kid_subset_size: int = 1000) -> None:
        from ..evaluation.inception import check_dims
        from ..evaluation.metrics import HIGHER_IS_BETTER, parse_metrics
        if not isinstance(interval, int) or interval < 1:
            raise ConfigError(f'FIDHook.interval must be a positive int, got {interval!r}')
        if num_samples < 2:
            raise ConfigError(f'FIDHook.num_samples must be >= 2, got {num_samples}')
        if batch_size < 1:
            raise ConfigError(f'FIDHook.batch_size must be >= 1, got {batch_size}')
        if real_stats is None and test_split is None:
            raise ConfigError('FIDHook needs real_stats (generating models) or test_split '
                              '(translation models)')
        self.metrics = parse_metrics(metrics)
        check_dims(dims)
        best = best_metric or _MAIN[self.metrics[0]]
        base = best.split('/')[-1]
        if base not in HIGHER_IS_BETTER:
            raise ConfigError(f"FIDHook.best_metric '{best}' is unknown; use one of "
                              f"{', '.join(HIGHER_IS_BETTER)} (or 'AtoB/<metric>')")
        self.interval, self.real_stats, self.num_samples = interval, real_stats, num_samples
        self.batch_size, self.inception_weights = batch_size, inception_weights
        self.save_best, self.seed, self.dims = save_best, seed, dims
        self.best_metric, self.higher_better = best, HIGHER_IS_BETTER[base]
        self.test_split, self.kid = test_split, dict(kid_subsets=kid_subsets,
                                                     kid_subset_size=kid_subset_size)
        self.best_score = -float('inf') if self.higher_better else float('inf')
        self.best_ckpt: Optional[str] = None
        self._net = None
        self._real: Any = None  # SourceData, or {direction: SourceData} for translation
        self._split = None
        self._last_step = -1
        self._warned: set[str] = set()
        self._record: dict = {}  # the last evaluation's comparisons and what the card needs

    # ------------------------------------------------------------------ hooks
    def before_train(self, runner) -> None:
        """Check the real data exists; restore the best score after a resume."""
        if self.test_split is None and not (osp.isfile(self.real_stats)
                                            or osp.isdir(self.real_stats)):
            raise ConfigError(
                f'FIDHook.real_stats: {self.real_stats} does not exist; create it with '
                f'`python tools/eval_fid.py REAL_IMAGE_FOLDER --save-stats {self.real_stats}`')
        if isinstance(self.test_split, str) and not osp.isdir(self.test_split):
            raise ConfigError(f'FIDHook.test_split: {self.test_split} is no folder (expected '
                              'testA/ and testB/, or test/ with A|B images)')
        if 'swd' in self.metrics and self.test_split is None and not osp.isdir(self.real_stats):
            raise ConfigError(f'FIDHook: swd needs real images; real_stats={self.real_stats} '
                              'holds only features: give the image folder')
        hub = runner.message_hub
        score = hub.get_info(_INFO_SCORE)
        if score is not None:
            self.best_score = float(score)
            self.best_ckpt = hub.get_info(_INFO_CKPT)

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None,
                         outputs: Any = None) -> None:
        """Evaluate every ``interval`` iterations."""
        if self.every_n_train_iters(runner, self.interval):
            self.evaluate(runner, runner.iter + 1)

    def after_train(self, runner) -> None:
        """Evaluate the final model unless the last iteration just did."""
        if runner.iter != self._last_step:
            self.evaluate(runner, runner.iter)

    # ---------------------------------------------------------------- helpers
    def _inception(self, device: torch.device):
        if self._net is None:  # load once, lazily, on first use
            from ..evaluation.inception import get_inception
            self._net = get_inception(self.inception_weights, device=device)
        return self._net

    def _stream(self, source, device, **kwargs):
        from ..evaluation.metrics import stream_source
        needs_net = bool({'fid', 'kid', 'is', 'pr'} & set(self.metrics))
        return stream_source(source, metrics=self.metrics, dims=self.dims, seed=self.seed,
                             net=self._inception(device) if needs_net else None,
                             batch_size=self.batch_size, progress=False, **kwargs)

    def _real_data(self, runner, device):
        """Real statistics/features of generating models (computed once)."""
        if self._real is None:
            from ..evaluation.metrics import load_feature_cache, save_feature_cache
            if osp.isdir(self.real_stats):
                cache = osp.join(runner.work_dir, 'fid_real_stats.npz')
                if osp.isfile(cache) and 'swd' not in self.metrics:
                    self._real = load_feature_cache(cache, self.dims)
                else:
                    self._real = self._stream(self.real_stats, device, generated=False,
                                              desc=self.real_stats, keep_features=True)
                    save_feature_cache(cache, self._real)
                    runner.logger.info(f'FIDHook: cached real statistics of '
                                       f'{self.real_stats} ({self._real.num} images) in {cache}')
            else:
                self._real = load_feature_cache(self.real_stats, self.dims)
        return self._real

    def _test_split(self, model):
        if self._split is None:
            from ..evaluation.held_out import split_from_dataset, split_from_folder
            if isinstance(self.test_split, str):
                self._split = split_from_folder(self.test_split)
            else:
                from ..registry import DATASETS
                dataset = DATASETS.build(dict(self.test_split))
                self._split = split_from_dataset(dataset, paired=tuple(model.directions) == (
                    'AtoB',), source=str(self.test_split.get('type')))
        return self._split

    def _score(self, fake, real, name: str, generated: str, reference: str) -> dict:
        """The values of ``fake`` against ``real``; their comparison record is kept."""
        from ..evaluation.metrics import score
        from ..evaluation.report import comparison
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            result = score(fake, real, self.metrics, swd_seed=self.seed, **self.kid)
        self._record['comparisons'][name] = comparison([result], [self.seed], generated,
                                                       reference)
        self._record['num'][name] = {'generated': fake.num, 'real': real.num}
        return result['metrics']

    def _translation_values(self, model, device) -> dict:
        from ..evaluation.held_out import batches_of, target_domain, translated_batches
        split = self._test_split(model)
        if self._real is None:
            self._real = {}
        values = {}
        for direction in model.directions:
            target = split.domain(target_domain(direction))
            if direction not in self._real:
                self._real[direction] = self._stream(batches_of(target, self.batch_size),
                                                     device, generated=False,
                                                     num=len(target), desc='real')
            inputs = split.domain(direction[0])
            fake = self._stream(translated_batches(model, inputs, direction, self.batch_size,
                                                   self.seed), device, num=len(inputs),
                                desc=direction)
            reference = f'{split.source} test{target_domain(direction)}'
            self._record['reference'] = f'{split.source} (test split)'
            for key, value in self._score(fake, self._real[direction], direction,
                                          f'{direction} of test{direction[0]}',
                                          reference).items():
                values[f'{direction}/{key}'] = value
        return values

    def compute_fid(self, runner) -> dict:
        """All metric values of ``runner.model`` (call on rank 0); keys as ``score``'s."""
        from ..models.modes import eval_mode
        from ..models.translation import TranslationModel
        model = _unwrap(runner.model)
        translates = self.test_split is not None
        if translates and not isinstance(model, TranslationModel):
            raise ConfigError(f'FIDHook.test_split is for translation models; '
                              f'{type(model).__name__} does not translate: use real_stats')
        if not translates and not hasattr(model, 'generate_for_eval'):
            raise ConfigError(f'FIDHook: {type(model).__name__} has no generate_for_eval('
                              'num, batch_size, seed); remove FIDHook from custom_hooks')
        try:
            device = next(model.parameters()).device
        except StopIteration:
            device = torch.device('cpu')
        self._record = {'comparisons': {}, 'num': {}, 'reference': self.real_stats,
                        'device': str(device)}
        cpu_rng = torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        try:
            with eval_mode(model):
                if translates:
                    return self._translation_values(model, device)
                real = self._real_data(runner, device)
                with torch.no_grad():
                    batches = model.generate_for_eval(self.num_samples, self.batch_size,
                                                      self.seed)
                    fake = self._stream(batches, device, num=self.num_samples,
                                        desc='generated')
        finally:
            torch.set_rng_state(cpu_rng)  # sampling must not change the training RNG
            if cuda_rng is not None:
                torch.cuda.set_rng_state_all(cuda_rng)
        if fake.num < self.num_samples:
            runner.logger.warning(f'FIDHook: the model generated only {fake.num} of '
                                  f'{self.num_samples} samples')
        self._sample_warning(runner, fake.num)
        from ..evaluation.report import DEFAULT
        values = self._score(fake, real, DEFAULT, 'generated', self.real_stats)
        self._record['num'] = self._record['num'][DEFAULT]
        return values

    def _write_record(self, runner, step: int) -> dict:
        """Append this evaluation's record (card + comparisons) to ``metrics.jsonl``."""
        from ..evaluation.card import metric_card
        rec = self._record
        card = metric_card(net=self._net, dims=self.dims, num=rec.get('num'),
                           seeds=[self.seed], reference=rec.get('reference'),
                           device=rec.get('device'))
        line = {'iteration': step, 'card': card, 'comparisons': rec.get('comparisons', {})}
        with open(osp.join(runner.work_dir, RECORDS), 'a') as f:
            f.write(json.dumps(line) + '\n')
        return card

    def _sample_warning(self, runner, num: int) -> None:
        from ..evaluation.fid import small_sample_warning
        if 'fid' not in self.metrics:
            return
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            small_sample_warning(num, 'statistics 1')
        for w in caught:  # the small-sample bias warning, once per run, into the log
            if str(w.message) not in self._warned:
                self._warned.add(str(w.message))
                runner.logger.warning(f'FIDHook: {w.message}')

    def _best_value(self, values: dict) -> float:
        if self.best_metric in values:
            return values[self.best_metric]
        per_direction = [v for k, v in values.items() if k.split('/')[-1] == self.best_metric]
        if not per_direction:
            raise ConfigError(f"FIDHook.best_metric '{self.best_metric}' was not computed; "
                              f"metrics are {', '.join(sorted(values))}")
        return float(np.mean(per_direction))

    @staticmethod
    def _tag(key: str) -> str:
        *prefix, name = key.split('/')
        if name not in _LABELS and not name.startswith('swd_'):
            return key
        return '/'.join(prefix + [_LABELS.get(name, name.upper())])

    def evaluate(self, runner, step: int) -> float:
        """Compute (rank 0), share and log the metrics at ``step``; keep the best checkpoint.

        Every rank must call this (as the hook methods do): the values are broadcast
        from rank 0 and ``runner.save_checkpoint`` may be a collective; only rank 0
        writes and deletes files.

        Returns:
            The ``best_metric`` value of this evaluation.
        """
        self._last_step = step
        value: Any = None
        error: Optional[BaseException] = None
        if is_main_process():
            try:
                value = self.compute_fid(runner)
            except Exception as exc:  # noqa: BLE001 - re-raised below, after telling the others
                error, value = exc, f'FIDHook failed on rank 0: {type(exc).__name__}: {exc}'
        if is_distributed():
            self._wait_for_rank0()
            box = [value]
            broadcast_object_list(box, src=0)
            value = box[0]
        if error is not None:
            raise error
        if isinstance(value, str):
            raise RuntimeError(value)
        if not isinstance(value, dict):  # a plain FID (e.g. from an overriding subclass)
            value = {'fid': float(value)}
        tags = {self._tag(k): float(v) for k, v in value.items()
                if not k.endswith(('_std', 'f_score'))}
        for tag, v in tags.items():
            runner.message_hub.update_scalar(f'metrics/{tag}', v)
        runner.visualizer.add_scalars(tags, step=step)  # once per evaluation
        best = self._best_value(value)
        better = best > self.best_score if self.higher_better else best < self.best_score
        shown = ', '.join(f'{k} {v:.4f}' for k, v in tags.items())
        note = ''
        if is_main_process() and self._record:
            from ..evaluation.card import comparability_note
            note = comparability_note(self._write_record(runner, step), 'fid')
        runner.logger.info(f'metrics at iter {step}: {shown} ({self.best_metric} best '
                           f'{best if better else self.best_score:.4f}, '
                           f'{self.num_samples if self.test_split is None else "test split"}'
                           f' samples){note}')
        if better:
            self.best_score = best
            runner.message_hub.update_info(_INFO_SCORE, self.best_score)
            if self.save_best:
                self._save_best(runner, step)
        return best

    #: Seconds the other ranks wait for rank 0's measurement (it may take hours on a CPU):
    #: the run's collective timeout (env_cfg.dist_cfg.timeout, 600 s by default) bounds
    #: every other wait, so this one waits on a process group of its own.
    RANK0_WAIT_S = 12 * 3600

    def _wait_for_rank0(self) -> None:
        """Barrier of all ranks on a gloo group whose timeout is :attr:`RANK0_WAIT_S`."""
        if getattr(self, '_wait_group', None) is None:  # every rank creates it here, in step
            self._wait_group = rank0_wait_group(self.RANK0_WAIT_S)
        barrier(self._wait_group)

    def _save_best(self, runner, step: int) -> None:
        name = self._tag(self.best_metric).replace('/', '_')
        filename = f'best_{name}_iter_{step}.pth'
        path = osp.join(runner.work_dir, filename)
        previous, self.best_ckpt = self.best_ckpt, path
        runner.message_hub.update_info(_INFO_CKPT, path)  # before saving: kept in the file
        runner.save_checkpoint(runner.work_dir, filename, save_optimizer=False,
                               save_param_scheduler=False, by_epoch=False)
        if is_main_process():
            # the previous best comes from the message hub of a resumed checkpoint: only a
            # best_*.pth of this work dir is ever deleted
            if previous and previous != path and osp.isfile(previous) \
                    and own_best_checkpoint(previous, runner.work_dir):
                os.remove(previous)
            runner.logger.info(f'FIDHook: new best {self.best_metric} {self.best_score:.4f}, '
                               f'saved {path}')


def own_best_checkpoint(path: str, work_dir: str) -> bool:
    """True if ``path`` is a ``best_*.pth`` directly inside ``work_dir`` (deletable by the hook)."""
    name = osp.basename(path)
    return (osp.dirname(osp.abspath(path)) == osp.abspath(work_dir)
            and name.startswith('best_') and name.endswith('.pth'))


def rank0_wait_group(seconds: int):
    """A gloo process group of every rank whose collectives wait up to ``seconds``."""
    return torch_dist.new_group(backend='gloo', timeout=datetime.timedelta(seconds=seconds))


@HOOKS.register_module()
class FIDHook(MetricsHook):
    """:class:`MetricsHook` under its first name (FID by default)."""
