"""Trials and decisions: plain frozen dataclasses over the engine's JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

TrialState = Literal["running", "completed", "failed", "stopped"]
Mode = Literal["min", "max"]


@dataclass(frozen=True)
class Trial:
    """One configuration of a sweep. ``params`` maps each parameter to its value (a tied group's
    value is a dict); ``intermediate`` maps step to the value reported there."""

    id: int
    params: dict[str, Any]
    state: TrialState = "running"
    value: float | None = None
    intermediate: dict[int, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "params": self.params, "state": self.state}
        if self.value is not None:
            out["value"] = self.value
        if self.intermediate:
            out["intermediate"] = [{"step": s, "value": v} for s, v in sorted(self.intermediate.items())]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trial:
        return cls(
            id=int(data["id"]),
            params=dict(data["params"]),
            state=data["state"],
            value=data.get("value"),
            intermediate={int(r["step"]): float(r["value"]) for r in data.get("intermediate", [])},
        )

    @classmethod
    def from_json(cls, text: str) -> Trial:
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True)
class Decision:
    """An early-termination policy's verdict on one trial, with the reason to record and show."""

    trial: int
    stop: bool
    reason: str

    @classmethod
    def from_json(cls, text: str) -> Decision:
        data = json.loads(text)
        return cls(trial=int(data["trial"]), stop=bool(data["stop"]), reason=str(data["reason"]))


def trials_json(trials: Any) -> str:
    """A JSON list of trials from Trial objects or dicts in the engine's shape."""
    return json.dumps([t.to_dict() if isinstance(t, Trial) else dict(t) for t in trials])
