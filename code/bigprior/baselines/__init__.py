"""Task-specific baselines the report compares BIGPrior with: a trained DnCNN denoiser for blind
denoising, OpenCV's classical inpainting for the inpainting tasks. Each writes
`inter_data/<experiment>/<Method>output/{i}.png` for the test images."""
