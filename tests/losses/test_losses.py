"""Loss values against their formulas."""
import math

import pytest
import torch
import torch.nn.functional as F

from gancore.errors import ConfigError
from gancore.registry import LOSSES

LOGITS = torch.tensor([-2.0, -0.5, 0.0, 1.5])


def build(type_, **kw):
    return LOSSES.build(dict(type=type_, **kw))


def test_vanilla_matches_bce_formula():
    loss = build('VanillaGANLoss')
    sig = torch.sigmoid(LOGITS)
    assert torch.allclose(loss(LOGITS, True), -torch.log(sig).mean())
    assert torch.allclose(loss(LOGITS, False), -torch.log(1 - sig).mean())
    # generator: non-saturating -log sigma(l)
    assert torch.allclose(loss(LOGITS, True, for_discriminator=False), -torch.log(sig).mean())


def test_label_smoothing_only_in_discriminator_step():
    loss = build('VanillaGANLoss', real_label=0.9)
    sig = torch.sigmoid(LOGITS)
    expected = -(0.9 * torch.log(sig) + 0.1 * torch.log(1 - sig)).mean()
    assert torch.allclose(loss(LOGITS, True), expected)
    assert torch.allclose(loss(LOGITS, True, for_discriminator=False), -torch.log(sig).mean())


def test_label_flipping_flips_about_p_of_targets():
    torch.manual_seed(0)
    loss = build('VanillaGANLoss', flip_prob=0.3)
    target = loss.target(torch.zeros(20000), True, True)
    assert abs((target == 0).float().mean().item() - 0.3) < 0.02
    with pytest.raises(ConfigError, match='flip_prob'):
        build('VanillaGANLoss', flip_prob=1.5)


def test_minimax_and_nonsaturating_generator_losses():
    mm, ns = build('MinimaxGANLoss'), build('NonSaturatingGANLoss')
    sig = torch.sigmoid(LOGITS)
    assert torch.allclose(mm(LOGITS, True, False), torch.log(1 - sig).mean())
    assert torch.allclose(ns(LOGITS, True, False), -torch.log(sig).mean())
    assert torch.allclose(ns(LOGITS, False), F.softplus(LOGITS).mean())


def test_lsgan_wgan_hinge():
    assert torch.allclose(build('LSGANLoss')(LOGITS, True), ((LOGITS - 1) ** 2).mean())
    assert torch.allclose(build('LSGANLoss')(LOGITS, False), (LOGITS ** 2).mean())
    w = build('WGANLoss')
    assert torch.allclose(w(LOGITS, True), -LOGITS.mean())
    assert torch.allclose(w(LOGITS, False), LOGITS.mean())
    h = build('HingeGANLoss')
    assert torch.allclose(h(LOGITS, True), torch.relu(1 - LOGITS).mean())
    assert torch.allclose(h(LOGITS, False), torch.relu(1 + LOGITS).mean())
    assert torch.allclose(h(LOGITS, True, False), -LOGITS.mean())


def test_loss_weight_scales():
    assert torch.allclose(build('LSGANLoss', loss_weight=0.5)(LOGITS, True),
                          0.5 * ((LOGITS - 1) ** 2).mean())


def test_gradient_penalty_of_linear_critic():
    # critic(x) = sum(w * x): gradient w everywhere, penalty = lambda * (|w| - 1)^2
    w = torch.tensor([3.0, 4.0])  # |w| = 5
    gp = build('GradientPenaltyLoss')  # lambda = 10
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    value = gp(lambda x: (x * w).sum(1), real, fake)
    assert math.isclose(value.item(), 10 * 16.0, rel_tol=1e-5)


def test_gradient_penalty_backpropagates_to_critic_parameters():
    critic = torch.nn.Linear(3, 1)
    gp = build('GradientPenaltyLoss')
    gp(critic, torch.randn(4, 3), torch.randn(4, 3)).backward()
    assert critic.weight.grad is not None and critic.weight.grad.abs().sum() > 0


def test_drift_l1_aux():
    assert torch.allclose(build('DriftLoss')(LOGITS), 0.001 * (LOGITS ** 2).mean())
    a, b = torch.randn(2, 3), torch.randn(2, 3)
    assert torch.allclose(build('L1Loss', loss_weight=100)(a, b), 100 * (a - b).abs().mean())
    logits, labels = torch.randn(5, 4), torch.tensor([0, 1, 2, 3, 0])
    assert torch.allclose(build('AuxiliaryClassificationLoss')(logits, labels),
                          F.cross_entropy(logits, labels))


def test_unknown_loss_argument_names_key_and_suggests():
    with pytest.raises(ConfigError) as err:
        build('GradientPenaltyLoss', loss_wieght=10)
    msg = str(err.value)
    assert "'loss_wieght'" in msg and 'GradientPenaltyLoss' in msg and "'loss_weight'" in msg
