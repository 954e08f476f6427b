"""Dagster asset checks of the pipeline: the blocking quality gates (`quality_gates.py`)."""

from orchestration.checks.quality_gates import build_quality_checks

__all__ = ["build_quality_checks"]
