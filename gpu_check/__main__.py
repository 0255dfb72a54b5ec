"""`python -m gpu_check` (what `benchmarks/gpu_check.sh` runs)."""

from gpu_check.check import main

main()
