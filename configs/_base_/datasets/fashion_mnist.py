# FashionMNIST in torchvision's on-disk format: data/fashion_mnist/FashionMNIST/raw/
_base_ = ['./mnist.py']
train_dataloader = dict(
    dataset=dict(data_root='data/fashion_mnist', variant='FashionMNIST'))
