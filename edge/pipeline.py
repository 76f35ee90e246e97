"""Gate pipelines: the base class and the registry of one pipeline per gate type.

The agent runs one pipeline per gate. Each gate type's pipeline lives in its feature slice
(``edge/vehicle_gate/``, ``edge/pedestrian_gate/``) and is imported only when a gate of that
type exists on this edge (the pedestrian pipeline loads dlib's models).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from edge.context import EdgeContext
from edge.gate_control import GateControl
from edge.interfaces import Camera, DoorContact, PresenceSensor
from models.site import GateConfig, GateType


class PlateReaderLike(Protocol):
    def read(self, frame: np.ndarray) -> Sequence[Any]: ...


class VoterLike(Protocol):
    def add(self, detections: Sequence[Any]) -> None: ...

    def result(self, *, single: bool = True) -> Any | None: ...

    def reset(self) -> None: ...


@dataclass(frozen=True)
class GateDevices:
    """The hardware of one gate as the agent's factories built it."""

    camera: Camera
    sensor: PresenceSensor
    control: GateControl
    door: DoorContact | None = None  # pedestrian gates with a door contact


@dataclass
class PipelineDeps:
    """Everything a pipeline may need besides its gate; fields default to what the agent has."""

    reader: PlateReaderLike | None = None
    voter_factory: Callable[[], VoterLike] | None = None
    reader_lock: threading.Lock = field(default_factory=threading.Lock)
    camera_check_s: float = 15.0  # idle camera health check period
    camera_fault_after_s: float = 10.0  # how long a camera fault lasts before the alarm
    data_dir: Any = None  # the edge's data directory (pipelines that cache on disk)


class GatePipeline:
    """Base: one gate, its devices, the shared context. ``run`` loops until cancelled."""

    gate_type: ClassVar[GateType]

    def __init__(
        self, gate: GateConfig, devices: GateDevices, ctx: EdgeContext, deps: PipelineDeps
    ) -> None:
        self.gate = gate
        self.devices = devices
        self.ctx = ctx
        self.deps = deps

    async def run(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


# gate type -> "module:class"; imported on first use
_PIPELINES: dict[GateType, str] = {
    GateType.VEHICLE: "edge.vehicle_gate.pipeline:VehicleGatePipeline",
    GateType.PEDESTRIAN: "edge.pedestrian_gate.pipeline:PedestrianGatePipeline",
}


def pipeline_for(gate_type: GateType) -> type[GatePipeline] | None:
    """The pipeline class of a gate type, or None for gates that only answer commands."""
    target = _PIPELINES.get(gate_type)
    if target is None:
        return None
    module, name = target.split(":")
    pipeline: type[GatePipeline] = getattr(importlib.import_module(module), name)
    return pipeline
