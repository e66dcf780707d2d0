"""Training engine: optimizer constructor, distributed set-up, runner (checkpoints: gancore.checkpoint)."""
from .dist import model_wrapper_cfg, setup_distributed
from .optim import GANOptimWrapperConstructor
from .runner import GANRunner, build_runner, prepare_config, train

__all__ = ['GANOptimWrapperConstructor', 'GANRunner', 'build_runner', 'prepare_config',
           'train', 'setup_distributed', 'model_wrapper_cfg']
