"""Shared error handling of the command-line tools."""
from __future__ import annotations

import sys
from typing import Callable


def run_tool(main: Callable[[], int]) -> int:
    """Run a tool's ``main``; a :class:`GancoreError` becomes one ``error:`` line, exit 2."""
    from .errors import GancoreError
    try:
        return main()
    except GancoreError as exc:
        message = ' '.join(str(exc).split('\n')).strip()
        print(f'error: {message}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130
