"""The phases and augmentation example of docs/writing_plugins.md, run as written there."""
import pytest
import torch
from torch import nn

from gancore.engine import GANOptimWrapperConstructor
from gancore.registry import DISCRIMINATORS, GENERATORS, MODELS
from gancore.testing import gancore_context, registry_sandbox
from test_loss_convention import DOC, guide_block


def test_the_guides_lazy_r1_model_runs_its_phases_with_augmentation_and_corrected_adam():
    with registry_sandbox(), gancore_context():
        @GENERATORS.register_module()
        class MyGenerator(nn.Module):
            latent_dim = 4

            def __init__(self) -> None:
                super().__init__()
                self.net = nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Unflatten(1, (1, 8, 8)))

            def forward(self, z):
                return self.net(z)

        @DISCRIMINATORS.register_module()
        class MyDiscriminator(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Softplus(),
                                         nn.Linear(16, 1))

            def forward(self, x):
                return self.net(x)

        namespace = {}
        exec(compile(guide_block('phases-example'), str(DOC), 'exec'), namespace)  # our own docs
        model = MODELS.build(namespace['model'])
        ow = GANOptimWrapperConstructor(
            {k: v for k, v in namespace['optim_wrapper'].items() if k != 'constructor'})(model)
        d_group = ow['discriminator'].optimizer.param_groups[0]
        assert d_group['lr'] == pytest.approx(0.0025 * 16 / 17)
        assert d_group['betas'] == pytest.approx((0.0, 0.99 ** (16 / 17)))
        assert ow['generator'].optimizer.param_groups[0]['lr'] == 0.0025
        augmented = []
        model.augment.forward = lambda x, f=model.augment.forward: (augmented.append(1), f(x))[1]
        logs = []
        for _ in range(17):
            batch = {'img': torch.rand(4, 1, 8, 8) * 2 - 1}
            logs.append(model.train_step(batch, ow))
    assert [i for i, log in enumerate(logs) if 'loss_r1' in log] == [0, 16]
    assert all({'loss_g', 'loss_d_real', 'loss_d_fake', 'aug_p'} <= set(log) for log in logs)
    assert all(torch.isfinite(v).all() for log in logs for v in log.values())
    # G's loss: 1 D call, D's: 2, R1: 1 (iterations 0 and 16): each one through model.augment
    assert len(augmented) == 17 * 3 + 2
    assert 'aug_rt' in logs[3] and model.augment.iterations == 17  # p adjusted after 4 steps
