"""Training the project's own PGGAN generator (the default generative prior).

The generator is `bigprior.generators.PGGANGenerator` itself, trained without progressive growing
(lod 0 throughout) by a small-data recipe: non-saturating logistic loss, lazy R1 penalty,
DiffAugment on real and fake images, and an exponential moving average of the generator weights.
The EMA generator is saved in the layout of the published converted checkpoints, so
`bigprior.generators.load_pggan` loads it like one.
"""

from .data import load_image_folders
from .discriminator import Discriminator
from .training import GANOptions, resume, train

__all__ = ["Discriminator", "GANOptions", "load_image_folders", "resume", "train"]
