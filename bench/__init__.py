"""Benchmarks: each runs as ``python -m bench.<name>`` (``--quick`` ≤ 60 s) and prints one JSON line last."""
