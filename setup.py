"""Installs gancore and its built-in plugins (import name ``gancore_plugins``)."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
#: Where the project lives; README's relative links point into it on package indexes.
HOMEPAGE = 'https://github.com/gancore/gancore'

PLUGINS = ['cgan', 'pix2pix', 'cyclegan', 'progan', 'stylegan2']

# Optional, for tools/export.py (resolved here: onnx 1.23.2, onnxscript 0.7.2,
# onnxruntime 1.32.0, safetensors 0.8.0 with torch 2.14.1):
#   onnx: the ONNX model format (torch.onnx writes and edits it);
#   onnxscript: torch.onnx.export(dynamo=True) translates the exported graph with it;
#   onnxruntime: runs each exported file to check it against PyTorch;
#   safetensors: the pickle-free weights format of .safetensors model files.
EXPORT = ['onnx', 'onnxscript', 'onnxruntime', 'safetensors']


def long_description() -> str:
    """README.md, its relative links made absolute (a package index has no docs/ folder)."""
    text = (HERE / 'README.md').read_text(encoding='utf-8')
    return re.sub(r'\]\((?!https?://|#)([^)]+)\)',
                  lambda m: f']({HOMEPAGE}/blob/main/{m.group(1)})', text)


setup(
    name='gancore',
    version='0.1.0',
    description='A plugin-based GAN framework on mmengine',
    long_description=long_description(),
    long_description_content_type='text/markdown',
    url=HOMEPAGE,
    project_urls={
        'Documentation': f'{HOMEPAGE}/tree/main/docs',
        'Source': HOMEPAGE,
        'Issues': f'{HOMEPAGE}/issues',
    },
    license='Apache-2.0',
    # the digits' licence travels with the data (gancore/datasets/data/)
    license_files=['LICENSE', 'gancore/datasets/data/DIGITS_LICENSE.txt'],
    keywords='GAN, generative adversarial networks, mmengine, pytorch, pix2pix, CycleGAN, '
             'StyleGAN2',
    classifiers=[
        'Development Status :: 3 - Alpha',
        'Intended Audience :: Science/Research',
        'Intended Audience :: Developers',
        'Operating System :: OS Independent',
        'Programming Language :: Python :: 3',
        'Programming Language :: Python :: 3 :: Only',
        'Programming Language :: Python :: 3.9',
        'Programming Language :: Python :: 3.10',
        'Programming Language :: Python :: 3.11',
        'Programming Language :: Python :: 3.12',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
        'Topic :: Scientific/Engineering :: Image Processing',
    ],
    python_requires='>=3.9',
    packages=find_packages(include=['gancore', 'gancore.*']) + [
        'gancore_plugins'] + [f'gancore_plugins.{p}' for p in PLUGINS] + ['gancore.configs'],
    # plugins/ is installed as gancore_plugins (no bare top-level 'plugins' package);
    # configs/ ships as gancore.configs so installed plugins can inherit its _base_ files.
    package_dir={'gancore_plugins': 'plugins', 'gancore.configs': 'configs'},
    # the embedded default's digits (a copy of scikit-learn's file, BSD-3-Clause) and its licence
    package_data={'gancore.configs': ['*/*.py', '*/*/*.py'],
                  'gancore.datasets': ['data/digits.csv.gz', 'data/DIGITS_LICENSE.txt']},
    install_requires=[
        'torch', 'torchvision', 'mmengine==0.10.7', 'numpy', 'pillow', 'addict',
        'tensorboard',
    ],
    extras_require={
        # scikit-learn: the photos of the pix2pix/CycleGAN demos (the digits ship in gancore).
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
