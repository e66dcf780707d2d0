"""The built-in models on NoiseGAN / TranslationGAN give what their own code gave before.

Each expected value is the formula the plugin wrote out before the shared
bases existed (seeded CPU latents, labels cycled, eval mode, the generator's
call), so moving the boilerplate into gancore changed no output.
"""
import torch
from torch import nn

import gancore_plugins.cgan  # noqa: F401  (registers the cGAN networks and model)
import gancore_plugins.pix2pix  # noqa: F401
import gancore_plugins.progan  # noqa: F401
from gancore.models import NoiseGAN, TranslationGAN
from gancore.registry import MODELS


def cgan(**kw):
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='ConditionalGAN',
        generator=dict(type='ConditionalGenerator', latent_dim=8, num_classes=3, out_channels=1,
                       image_size=8, base_channels=4),
        discriminator=dict(type='ConditionalDiscriminator', in_channels=1, num_classes=3,
                           image_size=8, base_channels=4), **kw))


def progan(num_classes=0):
    torch.manual_seed(0)
    nets = dict(max_resolution=16, base_channels=128, max_channels=8, num_classes=num_classes)
    extra = dict(aux_loss=dict(type='AuxiliaryClassificationLoss')) if num_classes else {}
    return MODELS.build(dict(
        type='ProgressiveGAN',
        generator=dict(type='ProGANGenerator', latent_dim=8, out_channels=1, **nets),
        discriminator=dict(type='ProGANDiscriminator', in_channels=1, **nets), **extra))


def seeded_z(num, dim, seed):
    return torch.randn(num, dim, generator=torch.Generator().manual_seed(seed))


def test_cgan_sampling_and_training_fakes_match_the_written_out_formulas():
    model = cgan(ema_decay=0.9).train()
    assert isinstance(model, NoiseGAN)
    out = model.sample(7, seed=3)
    gen = model.generator_ema.module
    gen.eval()
    expected = gen(seeded_z(7, 8, 3), torch.arange(7) % 3)
    gen.train()
    assert torch.equal(out, expected)
    assert all(m.training for m in model.modules())

    batch = {'img': torch.zeros(5, 1, 8, 8), 'label': torch.zeros(5, dtype=torch.long)}
    torch.manual_seed(11)
    fake = model.generate(batch)
    torch.manual_seed(11)
    z = torch.randn(5, 8)
    labels = torch.randint(0, 3, (5,))
    assert torch.equal(fake['label'], labels)
    assert torch.equal(fake['img'], model.generator(z, labels))


def test_progan_sampling_clamps_at_the_stage_and_trains_at_it():
    model = progan(num_classes=2)
    model.set_stage(1, 0.25)
    gen = model.generator_ema.module
    out = model.sample(4, seed=5)
    with torch.no_grad():
        gen.eval()
        expected = gen(seeded_z(4, 8, 5), 1, 0.25, torch.arange(4) % 2).clamp(-1, 1)
        other = gen(seeded_z(4, 8, 5), 0, 1.0, torch.arange(4) % 2).clamp(-1, 1)
        gen.train()
    assert torch.equal(out, expected)
    assert torch.equal(model.sample(4, seed=5, level=0), other)  # other level: alpha 1

    batch = {'img': torch.zeros(3, 1, 16, 16), 'label': torch.tensor([1, 0, 1])}
    torch.manual_seed(2)
    fake = model.generate(batch)
    torch.manual_seed(2)
    assert torch.equal(fake['img'], model.generator(torch.randn(3, 8), 1, 0.25, batch['label']))
    assert torch.equal(fake['label'], batch['label'])


def test_pix2pix_paper_mode_translates_in_train_mode_and_restores_every_module():
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='Pix2Pix',
        generator=dict(type='UNetGenerator', in_channels=1, out_channels=1, num_downs=6,
                       base_channels=4),
        discriminator=dict(type='PatchDiscriminator', in_channels=2, base_channels=4,
                           num_layers=1)))
    assert isinstance(model, TranslationGAN) and model.directions == ('AtoB',)
    model.eval()
    dropout = next(m for m in model.generator.modules() if isinstance(m, nn.Dropout))
    dropout.train()  # one submodule in a mode of its own
    modes = [m.training for m in model.modules()]
    seen = []
    hook = model.generator.register_forward_pre_hook(
        lambda net, args: seen.append(all(m.training for m in net.modules())))
    x = torch.rand(2, 1, 64, 64) * 2 - 1
    model.translate(x)
    hook.remove()
    assert seen == [True]  # dropout on, batch norm on the batch statistics
    assert [m.training for m in model.modules()] == modes
    model.paper_inference = False
    with torch.no_grad():
        model.generator.eval()
        expected = model.generator(x)
    assert torch.equal(model.translate(x), expected)
