"""Model base classes shared by all GAN plugins and the helpers their steps use.

* :class:`BaseGAN` (:mod:`.base_gan`): the train_step skeleton, EMA, sampling API;
* :class:`NoiseGAN` (:mod:`.noise`): noise-driven models (seeded sampling written once);
* :class:`TranslationGAN` (:mod:`.translation`): image-to-image models;
* :class:`Phase` (:mod:`.phases`): one update of one optimizer every k iterations, the
  unit of a model's declared schedule (:func:`standard_phases`, lazy regularisation);
* helpers: :func:`frozen`, :func:`detach`, :func:`unwrap`, :func:`optim_context`
  (:mod:`.base_gan`), :func:`eval_mode`, :func:`kept_modes` (:mod:`.modes`),
  :func:`noise_network`, :func:`image_network` (:mod:`.inference`: what a model exports).
"""
from .base_gan import BaseGAN, detach, frozen, optim_context, unwrap
from .modes import eval_mode, kept_modes
from .inference import FixedArguments, InferenceNetwork, image_network, noise_network
from .noise import NoiseGAN
from .phases import Phase, standard_phases
from .translation import TranslationGAN

__all__ = ['BaseGAN', 'NoiseGAN', 'TranslationGAN', 'Phase', 'standard_phases', 'detach',
           'frozen', 'unwrap', 'optim_context', 'eval_mode', 'kept_modes', 'noise_network',
           'image_network', 'InferenceNetwork', 'FixedArguments']
