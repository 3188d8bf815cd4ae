"""A cluster of real ``mdbx serve`` processes on this machine, for tests and benchmarks."""
