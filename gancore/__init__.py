"""gancore: a plugin-based GAN framework on mmengine.

Importing gancore imports no model: plugins are discovered and imported lazily
(see :mod:`gancore.registry.discovery`).
"""
__version__ = '0.1.0'
