"""Benchmarks: each module runs alone (`python -m bench.<name>`); `python -m bench` runs all."""
