"""Benchmarks (issue 4, speed): `.venv/bin/python -m bench [--quick]`; see docs/benchmarks.md."""
