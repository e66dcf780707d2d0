# cGAN on MNIST (28x28x1): label as an embedded extra channel in G and D.
_base_ = [
    '../_base_/models/cgan_28x28.py', '../_base_/datasets/mnist.py',
    '../_base_/schedules/adam_2e-4_20k.py', '../_base_/default_runtime.py',
]
