"""Measurements behind the numbers in docs/results.md and docs/predict.md.

Each is a script run from the repository root as a module, so that it uses this checkout's code:

    python -m benchmarks.NAME --help

``benchmarks/lab.py`` holds the lab's model and training loop, the reference every comparison uses.
"""
