"""The fusion stage: learn phi between the observation and the generative prior."""

from .model import BIGPriorFusion, DnCNN, build_fusion_model, load_fusion_state_dict, paper_state_dict

__all__ = ["BIGPriorFusion", "DnCNN", "build_fusion_model", "load_fusion_state_dict", "paper_state_dict"]
