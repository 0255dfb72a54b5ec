"""GAN inversion (mGANprior's multi-code, and StyleGAN2's z / w / w+ / multi-code), batched: the first stage of BIGPrior.

A `LatentSpace` (`latent`) says which codes of a frozen generator are optimised and how they make an
image: `MultiCodeGenerator` composes N latent codes inside a PGGAN, `stylegan2_latent` holds StyleGAN2's
spaces, `spaces.build_latent_space` picks one. `losses` holds mGANprior's L1/L2/VGG losses per image,
`invert` is the pure batched optimization loop, and `stage` runs it over a folder of images and writes
an experiment's `inter_data` (the scripts in code/mganprior are thin wrappers).
"""

from .invert import InversionResult, initial_codes, invert
from .latent import LatentSpace
from .losses import InversionLoss, VGGFeatures, build_loss
from .multicode import MultiCodeGenerator
from .spaces import LATENT_SPACES, build_latent_space

__all__ = ["LATENT_SPACES", "InversionLoss", "InversionResult", "LatentSpace", "MultiCodeGenerator", "VGGFeatures",
           "build_latent_space", "build_loss", "initial_codes", "invert"]
