"""The benchmark suite: `make bench` and `make bench-quick` (see README)."""
