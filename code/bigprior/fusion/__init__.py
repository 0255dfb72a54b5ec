"""The fusion stage: learn phi between the observation and the generative prior."""

from .loading import load_fusion_state_dict, paper_state_dict
from .networks import BIGPriorFusion, DnCNN, build_fusion_model
from .spec import FusionSpec

__all__ = ["BIGPriorFusion", "DnCNN", "FusionSpec", "build_fusion_model", "load_fusion_state_dict", "paper_state_dict"]
