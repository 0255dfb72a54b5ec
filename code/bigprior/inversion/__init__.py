"""Multi-code GAN inversion (mGANprior), batched: the first stage of BIGPrior.

`MultiCodeGenerator` composes N latent codes inside a PGGAN, `losses` holds mGANprior's L1/L2/VGG
losses per image, `invert` is the pure batched optimization loop, and `stage` runs it over a folder
of images and writes an experiment's `inter_data` (the scripts in code/mganprior are thin wrappers).
"""

from .invert import InversionResult, initial_codes, invert
from .losses import InversionLoss, VGGFeatures, build_loss
from .multicode import MultiCodeGenerator

__all__ = ["InversionLoss", "InversionResult", "MultiCodeGenerator", "VGGFeatures", "build_loss", "initial_codes", "invert"]
