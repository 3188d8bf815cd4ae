"""Benchmarks that measure Mini-Dropbox next to nginx and the disk in one run."""
