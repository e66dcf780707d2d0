"""The loss calling convention of docs/writing_plugins.md, run as written there."""
import re
from pathlib import Path

import torch
import torch.nn.functional as F

from gancore.models import frozen
from gancore.testing import registry_sandbox

DOC = Path(__file__).resolve().parents[2] / 'docs' / 'writing_plugins.md'


def guide_block(marker: str) -> str:
    """The code block after ``<!-- marker -->`` in the plugin guide."""
    text = DOC.read_text(encoding='utf-8')
    match = re.search(rf'<!-- {marker} -->\n```python\n(.*?)```', text, re.S)
    assert match, f'docs/writing_plugins.md lost its {marker} block'
    return match.group(1)


def relativistic_example():
    """The code block after the ``relativistic-example`` marker in the plugin guide."""
    return guide_block('relativistic-example')


def test_relativistic_example_takes_real_and_fake_outputs_in_both_steps():
    with registry_sandbox():
        namespace = {}
        exec(compile(relativistic_example(), str(DOC), 'exec'), namespace)  # our own docs
        loss = namespace['MyRelativisticAverageLoss']()
        real, fake = torch.tensor([2.0, 1.0]), torch.tensor([-0.5, 0.5])
        real_rel, fake_rel = real - fake.mean(), fake - real.mean()
        expected_d = -F.logsigmoid(real_rel).mean() - torch.log1p(-torch.sigmoid(fake_rel)).mean()
        expected_g = -F.logsigmoid(fake_rel).mean() - torch.log1p(-torch.sigmoid(real_rel)).mean()
        assert torch.allclose(loss(real, fake), expected_d, atol=1e-6)
        assert torch.allclose(loss(real, fake, for_discriminator=False), expected_g, atol=1e-6)

        # in the G step, with D frozen, D(real) is computed too: G gets gradient, D none
        torch.manual_seed(0)
        gen, disc = torch.nn.Linear(3, 4), torch.nn.Linear(4, 1)
        real_img, z = torch.randn(6, 4), torch.randn(6, 3)
        with frozen(disc):
            g_loss = loss(disc(real_img), disc(gen(z)), for_discriminator=False)
        g_loss.backward()
        assert all(p.grad is None for p in disc.parameters())
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in gen.parameters())
