"""Using a trained model: build it, sample, translate, export, convert, the model file.

* :mod:`~gancore.inference.model`: :func:`~gancore.inference.model.init_model`
  (a config and/or a checkpoint or model file -> the model in eval mode);
* :mod:`~gancore.inference.sampling`: image grids and ``tools/generate.py``'s samples;
* :mod:`~gancore.inference.translate`: folder translation (``tools/translate.py``);
* :mod:`~gancore.inference.export`: ONNX / TorchScript / safetensors export, each
  file checked against PyTorch;
* :mod:`~gancore.inference.convert`: pytorch-CycleGAN-and-pix2pix networks -> a
  gancore checkpoint;
* :mod:`~gancore.inference.model_file`: the pickle-free ``.safetensors`` model file.

Checkpoints are read and written through :mod:`gancore.checkpoint`; nothing here
imports the training engine. The submodules are imported where they are used
(``from gancore.inference.model import init_model``): importing this package
imports none of them.
"""
