"""BIGPrior: image restoration with a decoupled generative prior.

Stages (each a subpackage or module, connected only through the files of `bigprior.experiment`):
inversion (`bigprior.generators`, `bigprior.inversion`) -> fusion (`bigprior.fusion`) -> evaluation
(`bigprior.metrics`, `bigprior.report`).
"""

__version__ = "0.1.0"
