"""Helpers of the sweep benchmarks (bench/sweep_quality.py, bench/early_termination.py)."""
