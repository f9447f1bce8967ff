"""Benchmarks: one ``bench_*.py`` module per area, each with a ``main()`` printing a table.

``python -m benchmarks`` (``make bench``) runs them all; ``python -m benchmarks methods
data`` only the named ones.
"""
