"""Installs gancore and its built-in plugins (import name ``gancore_plugins``)."""
from setuptools import find_packages, setup

PLUGINS = ['cgan', 'pix2pix', 'cyclegan', 'progan', 'stylegan2']

# Optional, for tools/export.py (resolved here: onnx 1.23.2, onnxscript 0.7.2,
# onnxruntime 1.32.0, safetensors 0.8.0 with torch 2.14.1):
#   onnx: the ONNX model format (torch.onnx writes and edits it);
#   onnxscript: torch.onnx.export(dynamo=True) translates the exported graph with it;
#   onnxruntime: runs each exported file to check it against PyTorch;
#   safetensors: the pickle-free weights format of .safetensors model files.
EXPORT = ['onnx', 'onnxscript', 'onnxruntime', 'safetensors']

setup(
    name='gancore',
    version='0.1.0',
    description='A plugin-based GAN framework on mmengine',
    python_requires='>=3.9',
    packages=find_packages(include=['gancore', 'gancore.*']) + [
        'gancore_plugins'] + [f'gancore_plugins.{p}' for p in PLUGINS] + ['gancore.configs'],
    # plugins/ is installed as gancore_plugins (no bare top-level 'plugins' package);
    # configs/ ships as gancore.configs so installed plugins can inherit its _base_ files.
    package_dir={'gancore_plugins': 'plugins', 'gancore.configs': 'configs'},
    package_data={'gancore.configs': ['*/*.py', '*/*/*.py']},
    install_requires=[
        'torch', 'torchvision', 'mmengine==0.10.7', 'numpy', 'pillow', 'addict',
        'tensorboard',
    ],
    extras_require={
        # scikit-learn: its bundled handwritten digits are the embedded default dataset.
        # pytorch-fid (+ scipy<1.18, which it needs for sqrtm(disp=...)): FID parity test only.
        # torch-fidelity 0.4.0 (the newest release; imports tqdm): KID, precision/recall and
        # IS parity tests. pytorch-msssim 1.0.0: MS-SSIM parity test. References, never used
        # by gancore itself.
        'dev': ['pytest', 'scikit-learn', 'pytorch-fid==0.3.0', 'scipy<1.18',
                'torch-fidelity==0.4.0', 'tqdm', 'pytorch-msssim==1.0.0', *EXPORT],
        # tools/export.py (docs/export.md); in [dev] too so that CI runs the export tests.
        'export': EXPORT,
    },
    entry_points={
        'gancore.plugins': [f'{p} = gancore_plugins.{p}' for p in PLUGINS],
        'console_scripts': ['gancore = gancore.__main__:main'],
    },
)
