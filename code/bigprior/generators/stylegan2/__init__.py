"""StyleGAN2(-ADA) (Karras et al. 2020): the generator (`network.py`), NVlabs' network pickles read
without running them (`official.py`), converted files (`files.py`) and `bigprior convert-stylegan2`
(`convert.py`)."""

from .files import load_stylegan2, stylegan2_from_file
from .network import StyleGAN2Config, StyleGAN2Generator

__all__ = ["StyleGAN2Config", "StyleGAN2Generator", "load_stylegan2", "stylegan2_from_file"]
