# Template plugin: unconditional DCGAN on the digits shipped with gancore (16x16), 2k iterations.
#   pip install -e examples/plugin_template
#   gancore train examples/plugin_template/configs/template-dcgan_1xb64-2k_digits.py
#
# gancore's base configs are inherited through $GANCORE_CONFIGS, which gancore sets to its own
# configs/ folder (mmengine's '{{$VAR:default}}' substitution; ':' with an empty default means
# "must be set"). Relative '../' paths would only work inside gancore's repository.
_base_ = [
    '{{$GANCORE_CONFIGS:}}/_base_/datasets/digits.py',
    '{{$GANCORE_CONFIGS:}}/_base_/schedules/adam_2e-4_20k.py',
    '{{$GANCORE_CONFIGS:}}/_base_/default_runtime.py',
]
model = dict(
    type='TemplateGAN',
    generator=dict(type='TemplateGenerator', latent_dim=32, out_channels=1, image_size=16,
                   base_channels=32),
    discriminator=dict(type='TemplateDiscriminator', in_channels=1, image_size=16,
                       base_channels=32),
    gan_loss=dict(type='TemplateLogisticLoss'),
    ema_decay=0.999,
)
train_cfg = dict(max_iters=2000)
default_hooks = dict(logger=dict(interval=100), checkpoint=dict(interval=1000))
custom_hooks = [
    dict(type='SampleGridHook', interval=500),
    dict(type='GANHealthHook', interval=100),
]
