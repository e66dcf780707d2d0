"""Template gancore plugin: a tiny unconditional DCGAN on the bundled digits.

Importing this package registers its components (gancore does it for you,
through the ``gancore.plugins`` entry point in ``pyproject.toml``):

* ``TemplateGenerator`` / ``TemplateDiscriminator`` in GENERATORS / DISCRIMINATORS,
* ``TemplateLogisticLoss`` in LOSSES,
* ``TemplateGAN`` in MODELS.

To start your own plugin: copy ``examples/plugin_template``, rename the
package, the distribution and every ``Template*`` name (two plugins may not
register the same name), and edit.
"""
from .losses import TemplateLogisticLoss
from .model import TemplateGAN
from .networks import TemplateDiscriminator, TemplateGenerator

# What this plugin registers, by registry section: gancore reads it (without importing the
# plugin) so that a lookup of one of these names imports this plugin only. Keep it in step
# with the @register_module() lines (the test_index test checks it).
PROVIDES = {
    'models': ['TemplateGAN'],
    'generators': ['TemplateGenerator'],
    'discriminators': ['TemplateDiscriminator'],
    'losses': ['TemplateLogisticLoss'],
}

__all__ = ['TemplateGenerator', 'TemplateDiscriminator', 'TemplateLogisticLoss', 'TemplateGAN']
