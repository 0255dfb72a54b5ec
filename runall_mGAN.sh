#!/usr/bin/env bash
# The inversion stage of the paper's 11 experiments (the release's runall_mGAN.sh, same flags).
# Run from the workspace root after `bigprior prepare-lsun` (data/lsun/{bedroom,church,conference})
# with the PGGAN files in code/mganprior/models/pretrain/pytorch/ and torchvision's vgg16-397923af.pth
# in cache/torch/checkpoints/. Every command resumes where it stopped; extra flags are passed to all
# of them, e.g. `bash runall_mGAN.sh --batch_size 32`, or run one line per GPU / under torchrun.
set -euo pipefail
export XDG_CACHE_HOME=cache/
cd "$(dirname "$0")"
CODE=code/mganprior

# Colorization
python $CODE/colorization.py --gan_model pggan_bedroom --target_images data/lsun/bedroom --outputs inter_data/col_bedroom --composing_layer 6 --z_number 20 "$@"
python $CODE/colorization.py --gan_model pggan_churchoutdoor --target_images data/lsun/church --outputs inter_data/col_church --composing_layer 6 --z_number 20 "$@"

# Inpainting: crop center 64x64
python $CODE/inpainting.py --gan_model pggan_churchoutdoor --target_images data/lsun/church --outputs inter_data/inpcrop_church --mask mask_center.png --composing_layer 4 --z_number 30 "$@"
python $CODE/inpainting.py --gan_model pggan_bedroom --target_images data/lsun/bedroom --outputs inter_data/inpcrop_bedroom --mask mask_center.png --composing_layer 4 --z_number 30 "$@"
python $CODE/inpainting.py --gan_model pggan_conferenceroom --target_images data/lsun/conference --outputs inter_data/inpcrop_conference --mask mask_center.png --composing_layer 4 --z_number 30 "$@"

# Inpainting: variable mask
python $CODE/inpainting.py --gan_model pggan_churchoutdoor --target_images data/lsun/church --outputs inter_data/inpvar_church --varmask True --composing_layer 4 --z_number 30 "$@"
python $CODE/inpainting.py --gan_model pggan_bedroom --target_images data/lsun/bedroom --outputs inter_data/inpvar_bedroom --varmask True --composing_layer 4 --z_number 30 "$@"
python $CODE/inpainting.py --gan_model pggan_conferenceroom --target_images data/lsun/conference --outputs inter_data/inpvar_conference --varmask True --composing_layer 4 --z_number 30 "$@"

# Denoising: blind AWGN (5-50)
python $CODE/denoising.py --gan_model pggan_churchoutdoor --target_images data/lsun/church --outputs inter_data/denblind_church --sigma_min 5 --sigma_max 50 --composing_layer 4 --z_number 30 "$@"
python $CODE/denoising.py --gan_model pggan_bedroom --target_images data/lsun/bedroom --outputs inter_data/denblind_bedroom --sigma_min 5 --sigma_max 50 --composing_layer 4 --z_number 30 "$@"
python $CODE/denoising.py --gan_model pggan_conferenceroom --target_images data/lsun/conference --outputs inter_data/denblind_conference --sigma_min 5 --sigma_max 50 --composing_layer 4 --z_number 30 "$@"
