"""Benchmarks of the exchange (`make bench`): not part of the test suite."""
