"""Dagster asset checks of the pipeline: the blocking quality gates (`quality_gates.py`) and the erasure
check (`privacy.py`)."""

from orchestration.checks.privacy import privacy_erased_absent
from orchestration.checks.quality_gates import build_quality_checks

__all__ = ["build_quality_checks", "privacy_erased_absent"]
