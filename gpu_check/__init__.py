"""The GPU check: one run of every measurement the project's goals need, planned to fit the device time that a
lent GPU gives (`bash benchmarks/gpu_check.sh`, the one entry point). This folder orchestrates the lent machine
(parts, time limits, the report); the benchmarks it runs stay in `benchmarks/`."""
