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


judges = dq.judges


@pytest.fixture(scope='module')
def judges16():
    """The shipped digit judges at 16x16 (the cGAN demo's)."""
    return dq.digit_judges(16)


def _quick_judges(images, labels):
    """Judges fitted in seconds (for the plumbing tests; the shipped ones are tested above)."""
    found = {'cnn': judges.CNNJudge(images, labels, epochs=3),
             'forest': judges.ForestJudge(images, labels, trees=30)}
    return found


@pytest.fixture(scope='module')
def quick32():
    images, labels = judges.digit_split('train', 32)
    test_images, test_labels = judges.digit_split('test', 32)
    found = _quick_judges(images, labels)
    for judge in found.values():
        judges.describe(judge, test_images, test_labels)
    return found


@pytest.fixture
def fast_judges(monkeypatch, quick32):
    monkeypatch.setattr(dq, 'digit_judges', lambda size: quick32)
    return quick32


def _noise_and_blobs(size, n=200):
    gen = torch.Generator().manual_seed(0)
    noise = torch.rand(n, 1, size, size, generator=gen) * 2 - 1
    blobs = (torch.randn(n, 1, 4, 4, generator=gen).clamp(-1, 1)
             .repeat_interleave(size // 4, 2).repeat_interleave(size // 4, 3))
    return noise, blobs


def test_judges_read_real_digits_and_refuse_noise(judges16):
    test_images, test_labels = judges.digit_split('test', 16)
    noise, blobs = _noise_and_blobs(16)
    assert set(judges16) == {'cnn', 'forest'}
    for name, judge in judges16.items():
        assert judge.held_out_accuracy > 0.97, name
        real = dq.read(judge, test_images, test_labels)
        assert 0.85 <= real['readable'].mean() <= 0.9  # the threshold lets 90 % through
        for junk in (noise, blobs):
            assert dq.read(judge, junk)['readable'].mean() < 0.05, name
    assert judges16['cnn'].held_out_ece < 0.03  # calibrated: confidence ~ accuracy
    # without outlier exposure most noise got > 0.9: now none does
    assert dq.confident_share(judges16['cnn'].probabilities(noise)) < 0.05


def test_hog_features_ignore_stroke_polarity_but_not_shape():
    images, _ = judges.digit_split('test', 16)
    hog = judges.hog_features(images[:20])
    torch.testing.assert_close(judges.hog_features(-images[:20]), hog)  # dark on light
    assert not torch.allclose(judges.hog_features(images[:20].flip(-2)), hog, atol=0.1)
    assert hog.shape == (20, 3 * 3 * 4 * 9)


def test_outliers_are_not_digits_of_one_class():
    images, labels = judges.digit_split('train', 16)
    junk = judges.outliers(images, labels, 300, torch.Generator().manual_seed(0))
    assert junk.shape == (300, 1, 16, 16) and junk.min() >= -1 and junk.max() <= 1
    assert not any(torch.equal(j, img) for j in junk[:20] for img in images)


def test_figures_average_per_item_values_overall_and_per_group():
    values = np.array([1, 0, 1, 1])
    out = dq.figures('cnn', {'accuracy': values}, {'photo': np.array(['a', 'b', 'a', 'b'])})
    assert out == {'cnn:accuracy': 0.75, 'cnn:accuracy[photo=a]': 1.0,
                   'cnn:accuracy[photo=b]': 0.5}


class _FakeCGAN:
    """Draws a real held-out digit of the asked class (or of the next class)."""

    num_classes = 10

    def __init__(self, size, shift=0):
        self.images, self.labels = judges.digit_split('test', size)
        self.generator = type('G', (), {'image_size': size})()
        self.shift = shift

    def sample(self, num, seed=0, labels=None):
        rows = [int(torch.nonzero(self.labels == (int(k) + self.shift) % 10)[i % 20])
                for i, k in enumerate(labels)]
        return self.images[rows]


def test_score_cgan_per_judge_and_class(fast_judges):
    right = dq.score_cgan(_FakeCGAN(32), per_class=20)
    wrong = dq.score_cgan(_FakeCGAN(32, shift=1), per_class=20)
    for name in ('cnn', 'forest'):
        assert right[f'{name}:accuracy'] > 0.75 and wrong[f'{name}:accuracy'] < 0.1
        assert right[f'{name}:readable'] <= right[f'{name}:accuracy']
        assert f'{name}:accuracy[class=9]' in right and f'{name}:real_accuracy' in right
        assert wrong[f'{name}:readable[class=3]'] < 0.1


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


def test_score_progan_reads_real_digits_and_not_noise(fast_judges):
    images, _ = judges.digit_split('test', 32)
    scores = dq.score_progan(_FakeProGAN(images), num=300)
    for name in ('cnn', 'forest'):
        assert scores[f'{name}:readable'] > 0.8 and scores[f'{name}:readable_raw'] < 0.05
        shares = [scores[f'{name}:share[class={k}]'] for k in range(10)]
        assert sum(shares) == pytest.approx(1.0, abs=1e-3) and min(shares) > 0.03  # all ten
    assert scores['judges:agree'] > 0.8 and 'cnn:confident' in scores


class _FakeCycleGAN:
    """G_BA returns the B digit itself (oracle) or the gray B image; G_AB an oracle B image."""

    def __init__(self, oracle):
        self.oracle = oracle
        from gancore_plugins.cyclegan.demo_data import DigitsMNISTMUnpaired
        self.data = DigitsMNISTMUnpaired('test', image_size=32)

    def translate(self, images, direction):
        n = len(self.data.digits_b)
        if direction == 'AtoB':
            assert images.shape[1] == 1
            return torch.stack([self.data.blend((d + 1) / 2, 1, 40, 40) * 2 - 1 for d in images])
        assert direction == 'BtoA' and images.shape[1] == 3
        if not self.oracle:
            return dq.to_gray(images)
        return self.data.digits_b[torch.arange(len(images)) % n] * 2 - 1  # item i: digit i % n


@pytest.fixture
def fast_b_judges(monkeypatch):
    from gancore_plugins.cyclegan.demo_data import DigitsMNISTMUnpaired
    train = DigitsMNISTMUnpaired('train', image_size=32)
    images, labels = dq.items.b_images(train, 1, torch.Generator().manual_seed(0))
    found = _quick_judges(images, torch.from_numpy(labels))
    test_images, test_labels = dq.items.b_images(DigitsMNISTMUnpaired('test', image_size=32), 1)
    for judge in found.values():
        judges.describe(judge, test_images, test_labels)
    monkeypatch.setattr(dq, 'b_judges', lambda **kwargs: found)
    return found


def test_score_cyclegan_gray_baseline_oracle_and_subsets(fast_judges, fast_b_judges):
    gray = dq.score_cyclegan(_FakeCycleGAN(oracle=False), image_size=32)
    oracle = dq.score_cyclegan(_FakeCycleGAN(oracle=True), image_size=32)
    for name in ('cnn', 'forest'):
        assert gray[f'{name}:accuracy'] == pytest.approx(gray[f'{name}:gray_accuracy'])
        assert oracle[f'{name}:accuracy'] > 0.75  # labels line up with the images
        for key in ('background=light', 'background=dark', 'photo=china', 'photo=flower'):
            assert f'{name}:accuracy[{key}]' in oracle
        # G_AB's oracle draws real B images: read as well as the held-out B images
        assert oracle[f'{name}:ab_accuracy'] > oracle[f'{name}:real_b_accuracy'] - 0.1
    assert oracle['forest:ab_accuracy'] > 0.8


class _FakePix2Pix:
    """G(gray) = the gray input, or the colour target looked up by its gray (oracle)."""

    def __init__(self, oracle):
        self.oracle = oracle
        gray, colour, _ = dq.items.pix2pix_test_items(judges.colourfulness)
        self.pairs = list(zip(gray, colour))

    def translate(self, gray, direction):
        assert direction == 'AtoB'
        if not self.oracle:
            return gray.expand(-1, 3, -1, -1)
        return torch.stack([next(c for g, c in self.pairs if torch.equal(g, x)) for x in gray])


def test_score_pix2pix_against_the_gray_input():
    same = dq.score_pix2pix(_FakePix2Pix(False))
    assert same['pixel:mae'] == pytest.approx(same['pixel:gray_mae']) and same['pixel:mae'] > 0
    assert same['pixel:beats_gray'] == 0 and same['colour:colourfulness'] < 1
    oracle = dq.score_pix2pix(_FakePix2Pix(True))
    assert oracle['pixel:mae'] == 0 and oracle['pixel:beats_gray'] == 1
    assert oracle['colour:chroma_error'] == 0 < oracle['colour:gray_chroma_error']
    assert oracle['colour:colourfulness'] == oracle['colour:target_colourfulness']
    for key in ('photo=china', 'photo=flower', 'target=near-gray', 'target=colourful'):
        assert f'pixel:mae[{key}]' in oracle


def test_table_shows_every_figure_with_its_subsets():
    record = {'demos': {'cgan': {'train_cpu_s': 12.5, 'scores': {
        'cnn:accuracy': 0.9, 'cnn:accuracy[class=0]': 1.0, 'cnn:accuracy[class=1]': 0.8,
        'cnn:real_accuracy': 0.99}}}}
    lines = dq.format_table(record).splitlines()
    assert lines[2] == '| cgan | 12.5 | cnn:accuracy | 0.900 | 0 1.000, 1 0.800 |'
    assert lines[3] == '| cgan | 12.5 | cnn:real_accuracy | 0.990 |  |'


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
    assert oracle['BtoA_fid'] < 0.5 * gray['BtoA_fid']  # real A digits vs gray B images


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
        data = PhotoColorizationPatches('test')
        self.pairs = [(data[i]['img_A'], data[i]['img_B']) for i in range(len(data))]

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


def test_docs_grids_are_enlarged_and_labelled(tmp_path):
    spec = importlib.util.spec_from_file_location('demo_grids',
                                                  REPO / 'benchmarks' / 'demo_grids.py')
    grids = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(grids)
    from PIL import Image
    images = -torch.ones(20, 1, 8, 8)  # black digits: only the labels are dark on white
    plain = grids.save(images, tmp_path / 'plain.png', nrow=10, upscale=4)
    rows = grids.save(images, tmp_path / 'rows.png', nrow=10, upscale=4, rows=['0', '1'])
    cols = grids.save(images[:2], tmp_path / 'cols.png', nrow=2, upscale=4, cols=['A', 'B'])
    width, height = Image.open(plain).size
    assert (width, height) == (10 * 32 + 11 * 2, 2 * 32 + 3 * 2)  # 8x8 shown at 32x32
    labelled = np.asarray(Image.open(rows).convert('L'))
    margin = labelled.shape[1] - width
    assert labelled.shape[0] == height and margin > 8
    for r in range(2):  # each row's label is drawn in the margin beside its row
        band = labelled[2 + r * 34:2 + r * 34 + 32, :margin]
        assert (band < 128).any()
    header = np.asarray(Image.open(cols).convert('L'))
    assert header.shape[0] > 32 + 2 * 2 and (header[:header.shape[0] - 36, :] < 128).any()
