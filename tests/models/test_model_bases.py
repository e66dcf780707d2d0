"""NoiseGAN and TranslationGAN: what a plugin gets by writing only its networks and losses."""
import pytest
import torch
from torch import nn

from gancore.errors import ConfigError
from gancore.models import NoiseGAN, TranslationGAN
from gancore.models.translation import TranslationModel


class TinyNoiseGAN(NoiseGAN):
    num_classes = 3

    def __init__(self, ema_decay=None):
        super().__init__(ema_decay=ema_decay)
        torch.manual_seed(0)
        self.generator = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Dropout(0.5))
        self.discriminator = nn.Linear(6, 1)
        self.latent_dim = 4
        self.calls = []
        self.init_ema()

    def noise_to_images(self, generator, z, labels, shift=0.0):
        self.calls.append((generator, generator.training, labels))
        return generator(z) + labels[:, None].float() + shift


def test_noise_gan_samples_seeded_noise_in_eval_mode_with_cycled_labels():
    model = TinyNoiseGAN().train()
    out = model.sample(5, seed=7)
    gen, training, labels = model.calls[-1]
    assert gen is model.generator and not training  # eval mode inside ...
    assert model.generator.training and all(m.training for m in model.generator.modules())
    assert labels.tolist() == [0, 1, 2, 0, 1]
    z = torch.randn(5, 4, generator=torch.Generator().manual_seed(7))
    model.generator.eval()
    expected = model.generator(z) + labels[:, None].float()
    assert torch.equal(out, expected)
    assert not out.requires_grad
    model.train()
    assert torch.equal(model.sample(5, seed=7), out)
    assert not torch.equal(model.sample(5, seed=8), out)
    given = torch.tensor([2, 2, 2, 2, 2])
    model.sample(5, labels=given, shift=1.0)  # options reach noise_to_images
    assert model.calls[-1][2].tolist() == given.tolist()


def test_noise_gan_samples_from_the_ema_copy_and_batches_for_fid():
    model = TinyNoiseGAN(ema_decay=0.9)
    model.sample(2)
    assert model.calls[-1][0] is model.generator_ema.module
    model.sample(2, use_ema=False)
    assert model.calls[-1][0] is model.generator
    assert [len(b) for b in model.generate_for_eval(7, batch_size=3)] == [3, 3, 1]


def test_noise_gan_generate_draws_one_latent_per_real_image():
    model = TinyNoiseGAN()
    model.training_labels = lambda batch, n, device: torch.zeros(n, dtype=torch.long)
    fake = model.generate({'img': torch.zeros(4, 6)})
    assert fake['img'].shape == (4, 6) and fake['img'].requires_grad
    assert model.calls[-1][0] is model.generator and fake['label'].tolist() == [0] * 4


class TinyTranslator(TranslationGAN):
    translation_networks = {'AtoB': 'generator_ab', 'BtoA': 'generator_ba'}
    generator_names = ('generator_ab', 'generator_ba')

    def __init__(self):
        super().__init__()
        self.generator_ab = nn.Sequential(nn.Conv2d(1, 3, 3, 2, 1), nn.Dropout(0.5),
                                          nn.Upsample(scale_factor=2))
        self.generator_ba = nn.Sequential(nn.Conv2d(3, 1, 3, 1, 1), nn.Dropout(0.5))
        self.discriminator = nn.Conv2d(3, 1, 3)
        self.init_translation()


def test_translation_gan_gives_the_protocol_for_any_size_in_eval_mode():
    model = TinyTranslator().train()
    assert isinstance(model, TranslationModel)
    assert model.directions == ('AtoB', 'BtoA')
    assert (model.input_channels('AtoB'), model.input_channels('BtoA')) == (1, 3)
    assert model.size_multiples == {'AtoB': 2, 'BtoA': 1}
    x = torch.rand(2, 1, 5, 7) * 2 - 1
    out = model.translate(x, 'AtoB')
    assert out.shape == (2, 3, 5, 7)  # padded to 6x8, cropped back
    assert torch.equal(out, model.translate(x, 'AtoB'))  # eval mode: no dropout
    assert all(m.training for m in model.modules())  # and the mode is given back
    assert torch.equal(model(x), out)  # forward translates the main direction
    with pytest.raises(ConfigError, match="TinyTranslator translates in the direction"):
        model.translate(x, 'BtoC')
    with pytest.raises(ConfigError, match='pass a tensor'):
        model(3)


def test_translation_gan_refuses_noise_sampling_and_lists_inference_networks():
    model = TinyTranslator()
    with pytest.raises(ConfigError, match="TinyTranslator translates images .* model.translate"):
        model.sample(4)
    with pytest.raises(ConfigError, match='TinyTranslator cannot generate images for FID'):
        model.generate_for_eval(4)
    nets = model.inference_networks()
    assert [n.name for n in nets] == ['AtoB', 'BtoA']
    assert [n.module for n in nets] == [model.generator_ab, model.generator_ba]
    assert nets[0].metadata['out_channels'] == '3' and nets[1].metadata['in_channels'] == '3'
    with pytest.raises(ConfigError, match=r"'img_B' .*model.generator_ab.out_channels=3"):
        model.check_batch({'img_A': torch.zeros(1, 1, 4, 4), 'img_B': torch.zeros(1, 1, 4, 4)})
