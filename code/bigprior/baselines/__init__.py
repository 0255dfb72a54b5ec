"""Baselines the report compares BIGPrior with, each writing `inter_data/<experiment>/<Method>output/{i}.png`:
a trained DnCNN denoiser for blind denoising (`dncnn.py`), and the classical peers of every task
(`classical/`: denoising, inpainting, colorization; `bigprior peers`), of which `inpainting.py` is the
older `bigprior inpaint-baseline` command (OpenCV's Telea and Navier-Stokes on the test images)."""
