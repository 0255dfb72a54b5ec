"""Classical peers of BIGPrior, methods nobody here wrote, as first-class methods of the experiments and
as array functions for a photo of any size: blind denoising (non-local means, total variation, OpenCV's
fast non-local means, optional BM3D), inpainting (Telea, Navier-Stokes, biharmonic) and colorization
(the luma with the training images' mean chroma, globally or per luma level).

    from bigprior.baselines.classical import REGISTRY, methods_for
    peer = REGISTRY["NLMeans"]()                    # its defaults (picked on training images by experiments/peers/tune.py)
    restored = peer.restore(observation)            # HxWx3 float32 in [0, 1]
    [cls.name for cls in methods_for("denblind")]   # the peers of a task

`bigprior peers --experiment <exp>` writes their outputs into the experiment contract (`stage.py`).
"""

from . import colorization, denoising, inpainting  # noqa: F401  (registers the methods)
from .base import REGISTRY, ClassicalMethod, method_class, methods_for
from .stage import method_of_outputs, method_of_record

__all__ = ["REGISTRY", "ClassicalMethod", "method_class", "method_of_outputs", "method_of_record", "methods_for"]
