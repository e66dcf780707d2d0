"""benchmarks/demo_quality.py: the scoring functions on real digits, noise and fake models."""
import importlib.util

import numpy as np
import pytest
import torch

from conftest import REPO


def _load():
    spec = importlib.util.spec_from_file_location('demo_quality',
                                                  REPO / 'benchmarks' / 'demo_quality.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dq = _load()


@pytest.fixture(scope='module')
def confidence_clf():
    return dq.ConfidenceClassifier(image_size=32)


def test_confident_share_counts_rows_above_threshold():
    probs = np.array([[0.95, 0.05], [0.5, 0.5], [0.08, 0.92], [0.9, 0.1]])
    assert dq.confident_share(probs) == pytest.approx(0.5)  # 0.9 itself is not > 0.9
    assert dq.confident_share(probs, threshold=0.4) == 1.0


def test_confidence_separates_real_digits_from_noise(confidence_clf):
    real = dq.confident_share(confidence_clf.probabilities(confidence_clf.test.images))
    gen = torch.Generator().manual_seed(0)
    noise = torch.rand(200, 1, 32, 32, generator=gen) * 2 - 1
    blobs = (torch.randn(200, 1, 4, 4, generator=gen).clamp(-1, 1)
             .repeat_interleave(8, 2).repeat_interleave(8, 3))
    assert real > 0.7
    assert dq.confident_share(confidence_clf.probabilities(noise)) < 0.05
    assert dq.confident_share(confidence_clf.probabilities(blobs)) < 0.1


class _FakeProGAN:
    """Samples real test digits (EMA) or noise (raw generator)."""

    resolution = 32
    generator_ema = object()

    def __init__(self, digits):
        self.digits = digits

    def sample(self, num, seed=0, use_ema=True):
        if use_ema:
            return self.digits[torch.arange(num) % len(self.digits)]
        return torch.rand(num, 1, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_score_progan_reports_ema_raw_and_real(confidence_clf):
    scores = dq.score_progan(_FakeProGAN(confidence_clf.test.images), num=100)
    assert scores['ema_confident'] > 0.7
    assert scores['raw_confident'] < 0.05
    assert scores['real_test_confident'] > 0.7


class _FakeCycleGAN:
    """G_BA returns the digit itself (cheating oracle) or the gray B image."""

    def __init__(self, oracle):
        self.oracle = oracle

    def translate(self, images, direction):
        assert direction == 'BtoA' and images.shape[1] == 3
        if not self.oracle:
            return dq.to_gray(images)
        from gancore_plugins.cyclegan.demo_data import DigitsMNISTMUnpaired
        data = DigitsMNISTMUnpaired('test', image_size=32)
        return torch.stack([data.digits_b[int(i)] for i in self._digit_rows(data)]) * 2 - 1

    @staticmethod
    def _digit_rows(data):
        # the B digit drawn for test item i (same generator as the dataset)
        rows = []
        for i in range(len(data.digits_b)):
            gen = data._generator(i)
            rows.append(int(torch.randint(len(data.digits_b), (), generator=gen)))
        return rows


def test_score_cyclegan_gray_baseline_and_oracle():
    gray = dq.score_cyclegan(_FakeCycleGAN(oracle=False))
    assert gray['G_BA(B)_accuracy'] == pytest.approx(gray['gray(B)_accuracy'])
    assert gray['gray(B)_accuracy'] < 0.5
    oracle = dq.score_cyclegan(_FakeCycleGAN(oracle=True))
    assert oracle['G_BA(B)_accuracy'] > 0.9  # the real digits: labels line up with images


class _FakePix2Pix:
    def __init__(self, mode):
        self.mode = mode

    def translate(self, gray, direction):
        assert direction == 'AtoB'
        return gray.expand(-1, 3, -1, -1) if self.mode == 'gray' else torch.zeros(
            len(gray), 3, *gray.shape[-2:])


def test_score_pix2pix_errors():
    same = dq.score_pix2pix(_FakePix2Pix('gray'), num=8)
    assert same['output_mae'] == pytest.approx(same['gray_input_mae'])
    assert 0.0 < same['gray_input_mae'] < 1.0
    zeros = dq.score_pix2pix(_FakePix2Pix('zeros'), num=8)
    assert zeros['gray_input_mae'] == pytest.approx(same['gray_input_mae'])
    assert zeros['output_mae'] != pytest.approx(same['output_mae'])


def test_command_line_rejects_bad_input(capsys):
    for argv, words in ((['--demos', 'stylegan', '--train'], "'stylegan'"),
                        (['--demos', 'cgan'], 'give --train or --checkpoint'),
                        (['--checkpoint', 'progan'], 'KEY=VALUE'),
                        (['--train', '--metrics', 'kid'], "'kid'")):
        with pytest.raises(SystemExit) as exc:
            dq.main(argv)
        message = str(exc.value.code)
        assert message.startswith('error: ') and words in message, message


def test_extra_metrics_hook_is_called():
    dq.EXTRA_METRICS['count'] = lambda demo, model: {'count_demo': len(demo)}
    try:
        scores = dq.score('pix2pix', _FakePix2Pix('gray'), metrics=['count'])
    finally:
        del dq.EXTRA_METRICS['count']
    assert scores['count_demo'] == len('pix2pix') and 'output_mae' in scores
