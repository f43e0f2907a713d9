"""Benchmarks for spm-rules; each module runs with ``python -m benchmarks.<name>``."""
