"""Shared with the in-process training test: re-point mmengine loggers at live streams."""
from __future__ import annotations


def reattach_log_streams() -> None:
    """Point mmengine loggers left by earlier in-process runs at the current stdout."""
    import logging
    import sys

    from mmengine.logging import MMLogger
    for logger in MMLogger._instance_dict.values():
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and \
                    getattr(handler.stream, 'closed', False):
                handler.stream = sys.stdout
