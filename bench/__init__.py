"""The performance benchmark: `make bench` runs `python -m bench.run` (see docs/PERFORMANCE.md)."""
