"""StyleGAN2 plugin: networks, formulas (modulation, w_avg, truncation, mixing, path length),
the four phase losses, sampling helpers and the projector. Tiny networks; formulas are
checked against direct computations written here (no reference code)."""
import math

import pytest
import torch
import torch.nn.functional as F

from gancore.engine import GANOptimWrapperConstructor
from gancore.losses import MSELoss
from gancore.registry import MODELS
from gancore.testing import GANPluginTestCase, snapshot
from gancore_plugins.stylegan2 import (StyleGAN2Discriminator, StyleGAN2Generator, mix_styles,
                                       path_lengths, truncate)
from gancore_plugins.stylegan2.latents import slerp
from gancore_plugins.stylegan2.networks import draw_mixing_cutoff
from gancore_plugins.stylegan2.projector import noise_regularization
from gancore_plugins.stylegan2.synthesis import modulated_conv2d

pytestmark = pytest.mark.usefixtures('gancore_context')  # seed 0, 1 thread, scope

NETS = dict(resolution=16, channel_base=128, channel_max=8)


def tiny_model(num_classes=0, **kw):
    nets = dict(NETS, **({'num_classes': num_classes} if num_classes else {}))
    cfg = dict(type='StyleGAN2',
               generator=dict(type='StyleGAN2Generator', latent_dim=8, w_dim=8, out_channels=3,
                              mapping_layers=2, **nets),
               discriminator=dict(type='StyleGAN2Discriminator', in_channels=3,
                                  mapping_layers=2, **nets), **kw)
    return MODELS.build(cfg)


def shake(*nets, scale=0.3, seed=0):
    """Move every parameter and w_avg off their initial values (zero biases/strengths)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for net in nets:
            for p in net.parameters():
                p.add_(torch.randn(p.shape, generator=gen) * scale)
            for name, b in net.named_buffers():
                if name.endswith('w_avg'):
                    b.copy_(torch.randn(b.shape, generator=gen))


# --------------------------------------------------------------------------- networks
def test_shapes_and_num_ws():
    g = StyleGAN2Generator(latent_dim=8, w_dim=8, out_channels=3, num_classes=4, **NETS)
    d = StyleGAN2Discriminator(in_channels=3, num_classes=4, **NETS)
    assert g.num_ws == 2 * int(math.log2(16)) - 2 == 6
    z, labels = torch.randn(5, 8), torch.tensor([0, 1, 2, 3, 0])
    img, ws = g(z, labels, return_ws=True)
    assert img.shape == (5, 3, 16, 16) and ws.shape == (5, 6, 8)
    assert d(img, labels).shape == (5, 1)
    # channels: min(128 // r, 8): 8 at 4..16 -> e.g. b16's toRGB reads 8 channels
    assert g.synthesis.b16.torgb.weight.shape == (3, 8, 1, 1)


def test_parameter_names_are_the_reference_layout():
    # NVlabs' state-dict keys for an 8x8 conditional G and D, written out from its layer layout
    g = StyleGAN2Generator(latent_dim=4, w_dim=4, resolution=8, num_classes=2, mapping_layers=2,
                           channel_base=32, channel_max=4)
    layer = ['weight', 'noise_strength', 'bias', 'noise_const', 'affine.weight', 'affine.bias']
    rgb = ['weight', 'bias', 'affine.weight', 'affine.bias']
    expected = {'synthesis.b4.const', 'mapping.w_avg', 'mapping.embed.weight',
                'mapping.embed.bias', 'mapping.fc0.weight', 'mapping.fc0.bias',
                'mapping.fc1.weight', 'mapping.fc1.bias'}
    expected |= {f'synthesis.b4.conv1.{k}' for k in layer}
    expected |= {f'synthesis.b8.{c}.{k}' for c in ('conv0', 'conv1') for k in layer}
    expected |= {f'synthesis.b{r}.torgb.{k}' for r in (4, 8) for k in rgb}
    assert set(g.state_dict()) == expected
    d = StyleGAN2Discriminator(resolution=8, num_classes=2, mapping_layers=1, channel_base=32,
                               channel_max=4)
    expected = {'b8.fromrgb.weight', 'b8.fromrgb.bias', 'b8.conv0.weight', 'b8.conv0.bias',
                'b8.conv1.weight', 'b8.conv1.bias', 'b8.skip.weight', 'mapping.embed.weight',
                'mapping.embed.bias', 'mapping.fc0.weight', 'mapping.fc0.bias',
                'b4.conv.weight', 'b4.conv.bias', 'b4.fc.weight', 'b4.fc.bias',
                'b4.out.weight', 'b4.out.bias'}
    assert set(d.state_dict()) == expected
    assert d.b4.out.weight.shape == (4, 4)  # projection: cmap_dim = the 4x4 channels


def test_modulated_conv_against_a_direct_computation():
    torch.manual_seed(0)
    x, weight, styles = torch.randn(2, 3, 5, 5), torch.randn(4, 3, 3, 3), torch.randn(2, 3)
    got = modulated_conv2d(x, weight, styles, padding=1, fused=True)
    for i in range(2):
        w = weight * styles[i].view(1, 3, 1, 1)                       # modulation
        w = w / (w.pow(2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8).sqrt()  # demodulation
        assert torch.allclose(got[i:i + 1], F.conv2d(x[i:i + 1], w, padding=1), atol=1e-5)
    unfused = modulated_conv2d(x, weight, styles, padding=1, fused=False)
    assert torch.allclose(got, unfused, atol=1e-5)
    plain = modulated_conv2d(x, weight, styles, demodulate=False, padding=1)
    assert torch.allclose(plain[1:], F.conv2d(x[1:] * styles[1].view(1, 3, 1, 1), weight,
                                              padding=1), atol=1e-5)


def test_equalized_lr_of_the_synthesis_and_discriminator_layers():
    g = StyleGAN2Generator(latent_dim=4, w_dim=4, resolution=8, mapping_layers=1,
                           channel_base=64, channel_max=8)
    rgb = g.synthesis.b8.torgb
    assert rgb.weight_gain == pytest.approx(1 / math.sqrt(8))
    assert torch.equal(rgb.affine.bias, torch.ones(8))  # styles start at 1
    assert g.mapping.fc0.scale == pytest.approx(0.01 / math.sqrt(4))
    d = StyleGAN2Discriminator(resolution=8, channel_base=64, channel_max=8)
    assert d.b8.conv0.weight_gain == pytest.approx(1 / math.sqrt(8 * 9))


def test_noise_modes_and_strengths():
    torch.manual_seed(0)
    g = StyleGAN2Generator(latent_dim=8, w_dim=8, out_channels=3, mapping_layers=2, **NETS)
    shake(g)
    g.eval()
    z = torch.randn(2, 8)
    const = g(z, noise_mode='const')
    assert torch.equal(const, g(z, noise_mode='const'))
    assert not torch.allclose(g(z, noise_mode='random'), g(z, noise_mode='random'))
    assert not torch.allclose(const, g(z, noise_mode='none'))
    for name, p in g.named_parameters():
        if name.endswith('noise_strength'):
            p.data.zero_()
    assert torch.allclose(g(z, noise_mode='random'), g(z, noise_mode='none'), atol=1e-6)


# ------------------------------------------------------------- w_avg, truncation, mixing
def test_w_avg_moves_by_beta_in_training_only():
    g = StyleGAN2Generator(latent_dim=8, w_dim=8, mapping_layers=2, w_avg_beta=0.9, **NETS)
    m = g.mapping
    z = torch.randn(6, 8)
    m.w_avg.fill_(1.0)
    m.eval()
    w = m(z)[:, 0]
    assert torch.equal(m.w_avg, torch.ones(8))
    m.train()
    m(z)
    assert torch.allclose(m.w_avg, 0.9 * torch.ones(8) + 0.1 * w.mean(0), atol=1e-6)
    before = m.w_avg.clone()
    m(z, update_w_avg=False)
    assert torch.equal(m.w_avg, before)


def test_truncation_formula_and_cutoff():
    ws, avg = torch.randn(2, 5, 3), torch.randn(3)
    out = truncate(ws, avg, 0.7, cutoff=2)
    assert torch.allclose(out[:, :2], avg + 0.7 * (ws[:, :2] - avg))
    assert torch.equal(out[:, 2:], ws[:, 2:])
    assert torch.allclose(truncate(ws, avg, 0.0), avg.expand_as(ws))


def test_truncation_zero_gives_the_average_image_for_every_seed():
    model = tiny_model()
    shake(model.generator_ema.module)
    images = model.sample(3, seed=5, truncation_psi=0.0)
    assert torch.allclose(images[0], images[1], atol=1e-6) and torch.allclose(images[0], images[2],
                                                                              atol=1e-6)
    assert not torch.allclose(model.sample(3, seed=5)[0], model.sample(3, seed=5)[1])


def test_style_mixing_takes_the_tail_from_a_second_latent():
    ws, ws2 = torch.zeros(2, 6, 4), torch.ones(2, 6, 4)
    mixed = mix_styles(ws, ws2, 4)
    assert torch.equal(mixed[:, :4], ws[:, :4]) and torch.equal(mixed[:, 4:], ws2[:, 4:])
    torch.manual_seed(0)
    never = {int(draw_mixing_cutoff(6, 0.0, torch.device('cpu'))) for _ in range(20)}
    always = {int(draw_mixing_cutoff(6, 1.0, torch.device('cpu'))) for _ in range(200)}
    assert never == {6} and always == {1, 2, 3, 4, 5}


def test_generator_mixes_at_one_layer_for_the_whole_batch():
    torch.manual_seed(0)
    g = StyleGAN2Generator(latent_dim=8, w_dim=8, mapping_layers=2, **NETS).eval()
    shake(g)
    z = torch.randn(3, 8)
    plain = g.mapping(z, None)
    torch.manual_seed(4)
    _, ws = g(z, style_mixing_prob=1.0, return_ws=True)
    same = (ws == plain).all(dim=2)             # (N, num_ws): which styles are z's own
    cut = int(same[0].float().sum())
    assert 1 <= cut < g.num_ws
    assert same[:, :cut].all() and not same[:, cut:].any()


# ------------------------------------------------------------------------ loss terms
def test_path_lengths_of_a_linear_generator():
    # img = (ws @ A).view(N, 1, 2, 2): J^T y = y_flat @ A^T per style; a = sqrt(mean_styles |.|^2)
    torch.manual_seed(0)
    a_mat = torch.randn(3, 4)
    ws = torch.randn(2, 5, 3, requires_grad=True)
    img = (ws @ a_mat).sum(1).view(2, 1, 2, 2)
    y = torch.randn(2, 1, 2, 2)
    got = path_lengths(img, ws, y)
    per_style = y.view(2, 4) @ a_mat.t()                     # the same for every style
    assert torch.allclose(got, per_style.pow(2).sum(1).sqrt(), atol=1e-6)


def test_path_length_running_mean_and_penalty():
    model = tiny_model(pl_loss=dict(type='PathLengthRegularizer', loss_weight=2.0, decay=0.25))
    pl = model.pl_loss
    ws = torch.randn(4, 2, 3, requires_grad=True)
    img = (ws * torch.tensor([1.0, 2.0, 3.0])).sum(1).view(4, 3, 1, 1)
    direction = torch.ones_like(img)
    lengths = path_lengths(img, ws, direction).detach()
    loss, _ = pl(img, ws, direction)
    mean = 0.25 * lengths.mean()                             # from 0 by a quarter
    assert pl.pl_mean.item() == pytest.approx(mean.item(), rel=1e-6)
    assert loss.item() == pytest.approx(2.0 * ((lengths - mean) ** 2).mean().item(), rel=1e-5)
    assert 'pl_loss.pl_mean' in model.state_dict()  # saved and resumed with the model


def test_the_four_phase_losses():
    torch.manual_seed(0)
    model = tiny_model(num_classes=3, style_mixing_prob=0.0).train()
    shake(model.generator, model.discriminator)
    batch = {'img': torch.randn(4, 3, 16, 16), 'label': torch.tensor([0, 1, 2, 0])}
    fake = model.generate(batch)
    assert fake['img'].shape == (4, 3, 16, 16) and torch.equal(fake['label'], batch['label'])
    d = model.discriminator
    loss, log = model.generator_loss(batch, fake)
    assert loss.item() == pytest.approx(F.softplus(-d(fake['img'], fake['label'])).mean().item(),
                                        rel=1e-5)
    loss, log = model.discriminator_loss(batch, fake)
    expected = (F.softplus(d(fake['img'], fake['label'])).mean()
                + F.softplus(-d(batch['img'], batch['label'])).mean())
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert set(log) == {'loss_d_fake', 'loss_d_real'}
    loss, log = model.discriminator_regularizer(batch)
    x = batch['img'].clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(d(x, batch['label']).sum(), x)
    assert loss.item() == pytest.approx(10.0 / 2 * grad.pow(2).sum((1, 2, 3)).mean().item(),
                                        rel=1e-4)
    loss.backward()  # every D parameter gets a gradient (zero where R1 has none)
    assert all(p.grad is not None for p in d.parameters())
    loss, log = model.generator_regularizer(batch)
    assert model.pl_loss.pl_mean.item() == pytest.approx(0.01 * log['pl_length'].item(), rel=1e-5)
    assert {'loss_pl', 'pl_length', 'pl_mean'} <= set(log)


class TestStyleGAN2Training(GANPluginTestCase):
    def test_basegan_train_step_runs_the_main_phases(self):
        model = tiny_model(num_classes=2)
        opt = dict(optimizer=dict(type='Adam', lr=2e-3, betas=(0.0, 0.99), eps=1e-8))
        before = snapshot(model.generator)
        batch = self.random_batch((4, 3, 16, 16), num_classes=2)
        wrapper = GANOptimWrapperConstructor(dict(generator=opt, discriminator=dict(opt)))(model)
        logs = self.run_train_steps(model, wrapper, batch, n=2)
        self.assert_log_keys(logs, ['loss_g', 'loss_d_fake', 'loss_d_real'])
        self.assert_changed(model.generator, before)


# ------------------------------------------------------------------------- sampling
def test_sampling_is_seeded_and_in_range():
    model = tiny_model(num_classes=3)
    shake(model.generator_ema.module, scale=1.0)
    a, b = model.sample(4, seed=1), model.sample(4, seed=1)
    assert torch.equal(a, b) and a.abs().max() <= 1
    assert not torch.equal(a, model.sample(4, seed=2))


def test_style_mixing_grid_layout():
    model = tiny_model()
    shake(model.generator_ema.module)
    grid, per_row = model.style_mixing([1, 2], [3, 4, 5], col_styles=range(0, 2))
    assert per_row == 4 and grid.shape == (12, 3, 16, 16)
    rows, cols = model.sample(1, seed=1), model.sample(1, seed=3)
    assert torch.allclose(grid[4], rows[0], atol=1e-5)      # row 1, column 0
    assert torch.allclose(grid[1], cols[0], atol=1e-5)      # row 0, column 1
    # cell (1, 1): coarse styles of seed 3, the rest of seed 1: neither image
    assert not torch.allclose(grid[5], rows[0]) and not torch.allclose(grid[5], cols[0])


@pytest.mark.parametrize('space', ['z', 'w'])
def test_interpolation_ends_at_the_two_seeds(space):
    model = tiny_model()
    shake(model.generator_ema.module)
    frames = model.interpolate(1, 2, num_frames=5, space=space)
    assert frames.shape == (5, 3, 16, 16)
    assert torch.allclose(frames[0], model.sample(1, seed=1)[0], atol=1e-5)
    assert torch.allclose(frames[-1], model.sample(1, seed=2)[0], atol=1e-5)


def test_slerp_keeps_the_norm_and_the_ends():
    a, b = torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 3.0]])
    t = torch.tensor([[0.0], [0.5], [1.0]])
    out = slerp(a.expand(3, 2), b.expand(3, 2), t)
    assert torch.allclose(out.norm(dim=1), torch.full((3,), 3.0))
    assert torch.allclose(out[1], torch.tensor([3.0, 3.0]) / math.sqrt(2))
    assert torch.allclose(slerp(a, a, torch.tensor([[0.3]])), a)


def test_projector_with_a_pixel_loss_gets_closer():
    torch.manual_seed(0)
    model = tiny_model()
    gen = model.generator_ema.module
    shake(gen, scale=0.5)
    with torch.no_grad():
        target = gen.synthesis(gen.mapping(torch.randn(1, 8), None), noise_mode='const')[0]
    result = model.project(target, MSELoss(), num_steps=60, w_avg_samples=64, seed=1)
    assert result.ws.shape == (1, gen.num_ws, 8) and result.w_per_step.shape == (60, 8)
    assert result.distances[-1] < 0.5 * result.distances[0]
    assert sorted(result.noise) == sorted(n for n, _ in gen.synthesis.named_buffers()
                                          if n.endswith('noise_const'))
    assert torch.equal(gen.synthesis.b4.conv1.noise_const,
                       model.generator_ema.module.synthesis.b4.conv1.noise_const)


def test_noise_regularization_of_a_correlated_map():
    smooth = torch.ones(16, 16)
    assert noise_regularization(smooth).item() == pytest.approx(2 * 2)  # 16x16 and 8x8
    checker = (torch.arange(16).view(-1, 1) + torch.arange(16)) % 2 * 2.0 - 1
    assert noise_regularization(checker).item() > 1.0
    torch.manual_seed(0)
    assert noise_regularization(torch.randn(16, 16)).item() < 0.05


@pytest.mark.parametrize('up', [1, 2])
def test_float16_modulated_conv_agrees_with_float32(up):
    # the pre-normalisation of weight and styles (cancelled by demodulation) keeps fp16 finite
    from gancore.architectures.resample import setup_filter
    torch.manual_seed(0)
    x, weight = torch.randn(2, 8, 6, 6), torch.randn(4, 8, 3, 3) * 50
    styles = torch.randn(2, 8) * 30
    kw = dict(up=up, padding=1, resample_filter=setup_filter(), flip_weight=up == 1)
    full = modulated_conv2d(x, weight, styles, **kw)
    half = modulated_conv2d(x.half(), weight, styles, **kw)
    assert half.dtype == torch.float16 and torch.isfinite(half).all()
    assert torch.allclose(half.float(), full, atol=5e-3 * full.abs().max().item())


def test_fp16_blocks_stay_float32_on_cpu():
    g = StyleGAN2Generator(latent_dim=8, w_dim=8, mapping_layers=1, num_fp16_res=2,
                           conv_clamp=256.0, **NETS)
    assert [b.use_fp16 for b in g.synthesis.blocks()] == [False, True, True]  # 8 and 16
    assert g.synthesis.b16.compute_dtype(torch.device('cpu'), False) == torch.float32
    assert g.synthesis.b16.compute_dtype(torch.device('cuda'), False) == torch.float16
    assert g.synthesis.b16.compute_dtype(torch.device('cuda'), True) == torch.float32
    assert g(torch.randn(2, 8)).dtype == torch.float32


def test_check_batch_names_the_setting_to_fix():
    from gancore.errors import ConfigError
    model = tiny_model(num_classes=3)
    with pytest.raises(ConfigError, match='resolution=16'):
        model.check_batch({'img': torch.zeros(2, 3, 32, 32), 'label': torch.tensor([0, 1])})
    with pytest.raises(ConfigError, match=r'conditional StyleGAN2 \(num_classes=3\)'):
        model.check_batch({'img': torch.zeros(2, 3, 16, 16), 'label': torch.tensor([0, 3])})
    with pytest.raises(ConfigError, match='labelled dataset'):
        model.check_batch({'img': torch.zeros(2, 3, 16, 16)})
    model.check_batch({'img': torch.zeros(2, 3, 16, 16), 'label': torch.tensor([0, 2])})


@pytest.mark.parametrize('fmt', ['torchscript', 'onnx'])
def test_the_generator_exports_with_a_dynamic_batch(tmp_path, fmt):
    from gancore.inference import export
    model = tiny_model().eval()
    shake(model.generator_ema.module)
    net = model.inference_networks()[0]
    module = export.frozen_copy(net)
    path = tmp_path / f'g.{fmt}'
    (export.write_onnx if fmt == 'onnx' else export.write_torchscript)(net, module, path, {})
    diffs = export.check_export(fmt, path, net, module)
    assert [size for size, _ in diffs] == ['1x8', '3x8'] and max(d for _, d in diffs) < 1e-4
