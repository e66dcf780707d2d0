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
                        (['--train', '--metrics', 'fid,bogus'], 'bogus')):
        with pytest.raises(SystemExit) as exc:
            dq.main(argv)
        message = str(exc.value.code)
        assert message.startswith('error: ') and words in message, message


def _eval_helpers():
    spec = importlib.util.spec_from_file_location(
        'demo_eval_helpers', REPO / 'tests' / 'evaluation' / 'eval_helpers.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


helpers = _eval_helpers()


class _SamplesOf:
    """A noise demo whose ``generate_for_eval`` yields given images (cGAN/ProGAN API)."""

    resolution = 32

    def __init__(self, images):
        self.images = images

    def generate_for_eval(self, num, batch_size=50, seed=0):
        for start in range(0, num, batch_size):
            yield self.images[start:min(num, start + batch_size)]


def test_metrics_of_a_noise_demo_rank_digits_above_noise(monkeypatch):
    digits = dq.held_out_digits(32)[:60]
    monkeypatch.setattr(dq, 'held_out_digits', lambda size: digits)  # a fast subset
    noise = torch.rand(len(digits), 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    net = helpers.FakeNet()
    names = ['fid', 'kid', 'swd', 'ms_ssim']
    same = dq.demo_metrics('progan', _SamplesOf(digits), names, num=len(digits), net=net)
    other = dq.demo_metrics('progan', _SamplesOf(noise), names, num=len(digits), net=net)
    assert net.calls > 0  # the given network extracted the features
    assert abs(same['fid']) < 1e-3  # the held-out set against itself
    assert other['fid'] > 1.0 and other['kid'] > same['kid'] + 1.0
    assert other['swd'] > same['swd'] >= 0
    assert 0 < other['ms_ssim'] < same['ms_ssim'] < 1  # noise pairs are less alike


class _Translator(torch.nn.Module):
    """G_BA: gray(B) (or the held-out A digits themselves); G_AB: A repeated to RGB."""

    def __init__(self, oracle=False):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.oracle = oracle

    def input_channels(self, direction):
        return 3 if direction == 'BtoA' else 1

    def translate(self, images, direction):
        if direction == 'AtoB':
            return images.expand(-1, 3, -1, -1)
        if self.oracle:
            from gancore_plugins.cyclegan.demo_data import DigitsMNISTMUnpaired
            a = DigitsMNISTMUnpaired('test').digits_a * 2 - 1
            return a[torch.arange(len(images)) % len(a)]
        return dq.to_gray(images)


def test_metrics_of_the_cyclegan_demo_score_both_directions():
    net = helpers.FakeNet()
    cards = {}
    gray = dq.demo_metrics('cyclegan', _Translator(), ['fid', 'swd'], net=net, cards=cards,
                           image_size=32)
    assert set(cards) == {'BtoA', 'AtoB'}
    assert cards['BtoA']['reference'].startswith('held-out A images')
    oracle = dq.demo_metrics('cyclegan', _Translator(oracle=True), ['fid', 'swd'], net=net,
                             image_size=32)
    assert set(gray) >= {'BtoA_fid', 'AtoB_fid', 'BtoA_swd', 'AtoB_swd'}
    assert gray['AtoB_fid'] == pytest.approx(oracle['AtoB_fid'])  # same G_AB
    assert oracle['BtoA_fid'] < 0.2 * gray['BtoA_fid']  # real A digits vs gray photos


def test_metrics_of_pix2pix_compare_with_the_colour_targets():
    class Gray(_Translator):
        def input_channels(self, direction):
            return 1

    net = helpers.FakeNet()
    gray = dq.demo_metrics('pix2pix', Gray(), ['fid'], num=20, net=net)
    assert set(gray) == {'AtoB_fid'} and gray['AtoB_fid'] > 1.0  # gray vs colour targets
    colour = dq.demo_metrics('pix2pix', _Colour(), ['fid'], num=20, net=net)
    assert abs(colour['AtoB_fid']) < 1e-3  # an oracle returns the held-out targets


class _Colour(torch.nn.Module):
    """pix2pix oracle: the colour targets of the held-out patches, looked up by their gray."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        from gancore_plugins.pix2pix.demo_data import PhotoColorizationPatches
        data = PhotoColorizationPatches('test', length=20)
        self.pairs = [(data[i]['img_A'], data[i]['img_B']) for i in range(20)]

    def input_channels(self, direction):
        return 1

    def translate(self, gray, direction):
        return torch.stack([next(b for a, b in self.pairs if torch.equal(a, g)) for g in gray])


def test_inception_metrics_need_the_weights_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'empty_torch_home'))
    monkeypatch.delenv('GANCORE_INCEPTION_WEIGHTS', raising=False)
    assert dq.check_metrics('swd,ms_ssim') == ['swd', 'ms_ssim']  # no network needed
    work = tmp_path / 'work'
    with pytest.raises(SystemExit) as exc:
        dq.main(['--train', '--demos', 'progan', '--metrics', 'swd,kid',
                 '--work-root', str(work)])
    message = str(exc.value.code)
    assert message.startswith('error: --metrics ') and 'pt_inception' in message, message
    assert '\n' not in message and not work.exists()  # refused before any training


def test_inception_metrics_with_a_random_weight_file(tmp_path, monkeypatch):
    """The real state-dict keys with random values: the path users with the file take."""
    weights = tmp_path / helpers.WEIGHTS_NAME
    torch.save(helpers.random_inception_state(), weights)
    assert dq.check_metrics('fid,kid,swd', str(weights)) == ['fid', 'kid', 'swd']
    from gancore.evaluation.inception import get_inception
    net = get_inception(str(weights), download=False)
    digits = dq.held_out_digits(32)[:12]
    monkeypatch.setattr(dq, 'held_out_digits', lambda size: digits)
    noise = torch.rand(12, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    cards = {}
    same = dq.demo_metrics('progan', _SamplesOf(digits), ['fid'], num=12, net=net, cards=cards)
    other = dq.demo_metrics('progan', _SamplesOf(noise), ['fid'], num=12, net=net)
    assert abs(same['fid']) < 1e-2 < other['fid']
    card = cards['default']  # the record's metric card names the weights by their hash
    import hashlib
    assert card['feature_network']['sha256'] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert card['feature_network']['official'] is False
    assert card['num'] == {'generated': 12, 'real': 12} and card['sampling_seeds'] == [0]
    assert card['reference'] == 'held-out digits (12)'
