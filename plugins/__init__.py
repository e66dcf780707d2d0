"""gancore's built-in plugins, installed as the package ``gancore_plugins``."""
