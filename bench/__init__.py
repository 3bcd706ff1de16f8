"""Benchmarks: `make bench` runs them and prints figures (medians, and ratios where a baseline
runs in the same process)."""
