"""Benchmarks (issues 4 and 10, speed): `.venv/bin/python -m bench [--quick]`; see docs/benchmarks.md."""
