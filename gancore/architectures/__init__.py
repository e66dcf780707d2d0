"""Reusable networks and layers, registered in GENERATORS / DISCRIMINATORS."""
from .conditional import ConditionalDiscriminator, ConditionalGenerator
from .equalized import EqualizedConv2d, EqualizedLinear, MinibatchStd, PixelNorm
from .norm_init import get_norm_layer, init_weights
from .patchgan import PatchDiscriminator, PixelDiscriminator
from .progan import ProGANDiscriminator, ProGANGenerator, fade_real_images
from .resnet_generator import ResnetGenerator
from .unet import UNetGenerator

__all__ = ['ConditionalGenerator', 'ConditionalDiscriminator', 'EqualizedConv2d',
           'EqualizedLinear', 'MinibatchStd', 'PixelNorm', 'get_norm_layer', 'init_weights',
           'PatchDiscriminator', 'PixelDiscriminator', 'ProGANGenerator', 'ProGANDiscriminator',
           'fade_real_images', 'ResnetGenerator', 'UNetGenerator']
