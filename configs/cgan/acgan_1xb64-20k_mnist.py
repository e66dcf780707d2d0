# AC-GAN on MNIST: D sees only the image and predicts real/fake and the class.
_base_ = [
    '../_base_/models/cgan_28x28.py', '../_base_/datasets/mnist.py',
    '../_base_/schedules/adam_2e-4_20k.py', '../_base_/default_runtime.py',
]
model = dict(
    discriminator=dict(conditioning='none', aux_classifier=True),
    aux_loss=dict(type='AuxiliaryClassificationLoss', loss_weight=1.0),
)
