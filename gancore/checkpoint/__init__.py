"""Checkpoints: the one owner of the checkpoint format and of safe reading and atomic writing.

Below both the training engine and inference: :mod:`gancore.engine` writes and
resumes through it, :mod:`gancore.inference.model`, ``tools/convert_checkpoint.py`` and
the exporters read and write through it; nothing else calls ``torch.save`` or
``torch.load`` on a checkpoint.

* :mod:`~gancore.checkpoint.files`: safe reading (:func:`load_checkpoint_file`,
  also mmengine's loader for local paths once a run is set up), atomic writing
  (:func:`save_checkpoint_file`, :func:`write_text_atomic`,
  :func:`atomic_write`) under the one temporary-name scheme (:func:`temp_name`),
  and the one sweep of stale temporary files (:func:`remove_stale_temp_files`).
* :mod:`~gancore.checkpoint.layout`: the keys of a checkpoint, its portable
  form (:func:`make_portable`) and the config stored in it
  (:func:`stored_config`, :func:`config_from_checkpoint`).
* :mod:`~gancore.checkpoint.weights`: loading the weights into a model, network
  by network for inference (:func:`load_inference_weights`).
"""
from .files import (SAFE_GLOBALS, atomic_replace, atomic_write, discard,
                    install_checkpoint_loader, load_checkpoint_file, remove_stale_temp_files,
                    save_checkpoint_file, temp_name, temp_path, write_failed, write_text_atomic)
from .layout import (CONFIG, RESUME_STATE, check_training_checkpoint, config_from_checkpoint,
                     make_portable, read_stored_config, restore_portable, stored_config,
                     training_checkpoint, unwrapped_state_dict)
from .weights import load_inference_weights, load_training_weights

__all__ = ['SAFE_GLOBALS', 'atomic_replace', 'atomic_write', 'discard',
           'install_checkpoint_loader', 'load_checkpoint_file', 'remove_stale_temp_files',
           'save_checkpoint_file', 'temp_name', 'temp_path', 'write_failed', 'write_text_atomic',
           'CONFIG', 'RESUME_STATE', 'check_training_checkpoint', 'config_from_checkpoint',
           'make_portable', 'read_stored_config', 'restore_portable', 'stored_config',
           'training_checkpoint', 'unwrapped_state_dict', 'load_inference_weights',
           'load_training_weights']
