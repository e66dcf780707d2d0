# cGAN on FashionMNIST (28x28x1): one-hot label concatenated to z (G) and as maps (D).
_base_ = [
    '../_base_/models/cgan_28x28.py', '../_base_/datasets/fashion_mnist.py',
    '../_base_/schedules/adam_2e-4_20k.py', '../_base_/default_runtime.py',
]
model = dict(generator=dict(label_mode='onehot'), discriminator=dict(conditioning='onehot'))
