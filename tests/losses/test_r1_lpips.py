"""R1 (gamma / 2 * E||grad_x D(x)||^2) and the LPIPS-VGG distance from user-supplied files."""
import pytest
import torch
import torch.nn.functional as F

from gancore.errors import CheckpointError
from gancore.losses import LPIPSVGGLoss, R1Penalty
from gancore.losses.perceptual import LPIPS_TAPS, VGG16_CONVS


def test_r1_of_a_quadratic_critic():
    # D(x) = sum(a * x^2) per sample: grad = 2 a x, ||grad||^2 = sum(4 a^2 x^2)
    torch.manual_seed(0)
    a = torch.randn(1, 2, 3, 3)
    x = torch.randn(4, 2, 3, 3, requires_grad=True)
    pred = (a * x ** 2).flatten(1).sum(1, keepdim=True)
    loss = R1Penalty(gamma=0.5)(pred, x)
    expected = 0.5 / 2 * (4 * a ** 2 * x.detach() ** 2).flatten(1).sum(1).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_r1_trains_the_critic():
    w = torch.tensor([2.0, -1.0], requires_grad=True)
    x = torch.randn(3, 2, requires_grad=True)
    loss = R1Penalty(gamma=10.0)((x * w).sum(1, keepdim=True), x)   # 5 * ||w||^2 = 25
    assert loss.item() == pytest.approx(25.0)
    loss.backward()
    assert torch.allclose(w.grad, 10 * w.detach())


def tiny_lpips_files(tmp_path, widths=(2, 3, 4, 4, 4)):
    """Files with the real files' keys and tiny channel widths (VGG16 features 0..28, lin0..4)."""
    torch.manual_seed(0)
    blocks = [widths[0]] * 2 + [widths[1]] * 2 + [widths[2]] * 3 + [widths[3]] * 3 + \
        [widths[4]] * 3
    vgg, c_in = {}, 3
    for i, c_out in zip(VGG16_CONVS, blocks):
        vgg[f'features.{i}.weight'] = torch.randn(c_out, c_in, 3, 3) * 0.5
        vgg[f'features.{i}.bias'] = torch.randn(c_out) * 0.1
        c_in = c_out
    vgg['classifier.0.weight'] = torch.randn(2, 2)  # ignored
    lin = {f'lin{k}.model.1.weight': torch.rand(1, w, 1, 1) for k, w in enumerate(widths)}
    torch.save(vgg, tmp_path / 'vgg.pth')
    torch.save(lin, tmp_path / 'lin.pth')
    return tmp_path / 'vgg.pth', tmp_path / 'lin.pth', vgg, lin


def reference_lpips(x0, x1, vgg, lin):
    """LPIPS written out layer by layer (VGG16 features, channel-normalised, lin weights)."""
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def feats(x):
        x = (x - shift) / scale
        out = []
        convs = [(f'features.{i}', i) for i in VGG16_CONVS]
        pools_after = {2, 4, 7, 10}  # after the 2nd, 4th, 7th, 10th convolution
        for n, (key, _) in enumerate(convs, 1):
            x = F.relu(F.conv2d(x, vgg[key + '.weight'], vgg[key + '.bias'], padding=1))
            if n in (2, 4, 7, 10, 13):
                out.append(x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-10))
            if n in pools_after:
                x = F.max_pool2d(x, 2)
        return out
    total = 0
    for k, (a, b) in enumerate(zip(feats(x0), feats(x1))):
        total = total + (lin[f'lin{k}.model.1.weight'] * (a - b) ** 2).sum(1).mean((1, 2))
    return total


def test_lpips_matches_the_formula_and_is_zero_for_equal_images(tmp_path):
    vgg_path, lin_path, vgg, lin = tiny_lpips_files(tmp_path)
    loss = LPIPSVGGLoss(str(vgg_path), str(lin_path))
    torch.manual_seed(1)
    x0, x1 = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(loss.distance(x0, x1), reference_lpips(x0, x1, vgg, lin), rtol=1e-5)
    assert loss(x0, x0).item() == 0.0
    assert loss(x0, x1).item() > 0
    assert len(LPIPS_TAPS) == 5 and not any(p.requires_grad for p in loss.parameters())


def test_lpips_refuses_a_file_without_the_weights(tmp_path):
    vgg_path, lin_path, _, lin = tiny_lpips_files(tmp_path)
    del lin['lin3.model.1.weight']
    torch.save(lin, tmp_path / 'short.pth')
    with pytest.raises(CheckpointError, match=r"short\.pth.*lin3\.model\.1\.weight"):
        LPIPSVGGLoss(str(vgg_path), str(tmp_path / 'short.pth'))


class _Boom:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


def test_lpips_weights_are_read_without_running_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    vgg_path, _, _, lin = tiny_lpips_files(tmp_path)
    torch.save({**lin, 'evil': _Boom()}, tmp_path / 'evil.pth', pickle_protocol=2)
    with pytest.raises(CheckpointError):
        LPIPSVGGLoss(str(vgg_path), str(tmp_path / 'evil.pth'))
    assert not (tmp_path / 'PWNED').exists()
