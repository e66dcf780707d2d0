"""How a registered component is named: the scopes, close matches, the import-path note.

Below the registries and the schema (:mod:`gancore.registry.registries` and
:mod:`gancore.registry.schema` both use it); imports nothing of gancore.
"""
from __future__ import annotations

import difflib
from typing import Any

SCOPE = 'gancore'
#: The scopes a config may name (``default_scope``, ``_scope_``, ``'mmengine.Adam'``):
#: gancore's and mmengine's. Any other would make mmengine import ``<scope>.registry``.
SCOPES = (SCOPE, 'mmengine')


def suggest(name: str, candidates) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest candidate, or ``""``."""
    close = difflib.get_close_matches(str(name), list(candidates), n=3, cutoff=0.6)
    if not close:
        return ''
    return ' Did you mean ' + ' or '.join(repr(c) for c in close) + '?'


def not_a_path(key: Any) -> str:
    """The note for an unknown ``type`` that looks like an import path (``'os.system'``)."""
    if not isinstance(key, str) or '.' not in key:
        return ''
    return (' A type is the name of a registered component (see gancore list), never an '
            'import path: nothing is imported or called because a config names it.')
