"""Trials and decisions (classes of the Rust core), and the names of trial states and modes."""

from __future__ import annotations

from typing import Literal

from .._core import Decision, Trial

TrialState = Literal["running", "completed", "failed", "stopped"]
Mode = Literal["min", "max"]

__all__ = ["Decision", "Mode", "Trial", "TrialState"]
