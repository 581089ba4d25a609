"""Benchmarks, run by hand (not tests)."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent  # the checkout the benchmarks belong to
