"""Old import path of plugin discovery, listing and the configs folder (re-exports only).

The three jobs live in their own modules: :mod:`gancore.discovery` (entry
points, the plugin index, imports and failures), :mod:`gancore.listing` (what
``gancore list`` prints) and :mod:`gancore.configs_folder` (``configs_dir``,
``$GANCORE_CONFIGS``); :mod:`gancore.plugin_state` saves and restores what
plugins registered (the test harness's sandbox). Importing this module changes
nothing.
"""
from .configs_folder import CONFIGS_ENV, configs_dir, configs_env, export_configs_dir
from .discovery import (ENTRY_POINT_GROUP, INDEX_NAME, discover, failed, failure_traceback,
                        import_custom_modules, import_plugins, import_providers, imported,
                        plugin_index, plugin_of, providers, read_index, reset, source_of,
                        summary)
from .listing import (ComponentInfo, PluginInfo, list_components, plugin_infos,
                      registry_section, signature_of)
from .plugin_state import restore_state, state

__all__ = ['ENTRY_POINT_GROUP', 'INDEX_NAME', 'CONFIGS_ENV', 'discover', 'import_plugins',
           'import_providers', 'providers', 'plugin_index', 'read_index',
           'import_custom_modules', 'imported', 'failed', 'failure_traceback', 'source_of',
           'plugin_of', 'summary', 'reset', 'state', 'restore_state', 'PluginInfo',
           'plugin_infos', 'ComponentInfo', 'signature_of', 'registry_section',
           'list_components', 'configs_dir', 'configs_env', 'export_configs_dir']
