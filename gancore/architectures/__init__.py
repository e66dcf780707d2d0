"""Reusable networks and layers, registered in GENERATORS / DISCRIMINATORS."""
from .conditional import ConditionalDiscriminator, ConditionalGenerator

__all__ = ['ConditionalGenerator', 'ConditionalDiscriminator']
