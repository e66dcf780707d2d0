"""The hook that kills a training child of :mod:`hostile.signals` (its ``custom_imports``).

Imported only inside those children: it registers ``FaultInjectionHook`` in gancore's
hook registry, which the suite's own process never needs.
"""
import os
import signal

from mmengine.hooks import Hook

from gancore.registry import HOOKS


@HOOKS.register_module(force=True)
class FaultInjectionHook(Hook):
    """Kill this process as ``GANCORE_FAULT=<kind>:<iteration>`` says (see hostile.signals)."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        kind, _, at = os.environ.get('GANCORE_FAULT', ':').partition(':')
        self.kind, self.at = kind, int(at or 0)

    def before_train(self, runner) -> None:
        if self.kind == 'write':
            from mmengine.fileio.backends.local_backend import LocalBackend
            put, name = LocalBackend.put, f'.iter_{self.at}.tmp'

            def half_then_die(backend, obj, filepath):
                if os.path.basename(str(filepath)).startswith(name):
                    with open(filepath, 'wb') as f:
                        f.write(obj[:len(obj) // 2])
                    os.kill(os.getpid(), signal.SIGKILL)
                put(backend, obj, filepath)
            LocalBackend.put = half_then_die
        elif self.kind == 'rename':
            from gancore import checkpoint
            write, target = checkpoint.write_text_atomic, f'iter_{self.at}.pth'

            def die_before_naming(path, text):
                if text.endswith(target):
                    os.kill(os.getpid(), signal.SIGKILL)
                write(path, text)
            checkpoint.write_text_atomic = die_before_naming

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self.kind == 'iter' and runner.iter + 1 == self.at:
            os.kill(os.getpid(), signal.SIGKILL)
