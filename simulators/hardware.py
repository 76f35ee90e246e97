"""Simulated hardware for every gate of an edge, behind the same factories as the real drivers
(``edge.agent.hardware_factories``): what ``anju edge --simulate`` and the demo run on."""

from __future__ import annotations

from typing import Any

from edge.interfaces import (
    Camera,
    CameraFactory,
    HardwareFactories,
    PresenceSensor,
    Relay,
    RelayFactory,
    SensorFactory,
)
from models.site import GateConfig, GateType, SiteConfig
from simulators.gate import SimRelay, SimulatedVehicleGate
from simulators.pedestrian_gate import SimulatedPedestrianGate


def simulated_hardware(
    site: SiteConfig, edge_id: str, **gate_options: Any
) -> tuple[dict[str, Any], CameraFactory, RelayFactory, SensorFactory]:
    """Simulated gates for every gate of ``edge_id``: (sim gates by id, factories)."""

    sims: dict[str, Any] = {}
    relays: dict[str, Relay] = {}
    for gate in site.gates_of(edge_id):
        if gate.type is GateType.VEHICLE:
            sim = SimulatedVehicleGate(
                gate.id, size=(gate.camera.width, gate.camera.height), **gate_options
            )
            sims[gate.id] = sim
            relays[gate.id] = sim.relay
        elif gate.type is GateType.PEDESTRIAN:
            seed = int(gate_options.get("seed", 0))
            ped = SimulatedPedestrianGate(
                gate.id, size=(gate.camera.width, gate.camera.height), seed=seed
            )
            sims[gate.id] = ped
            relays[gate.id] = ped.relay
        else:
            relays[gate.id] = SimRelay()

    def camera(gate: GateConfig) -> Camera:
        return sims[gate.id].camera

    def sensor(gate: GateConfig) -> PresenceSensor:
        return sims[gate.id].sensor

    def relay(gate: GateConfig) -> Relay:
        return relays[gate.id]

    return sims, camera, relay, sensor


def simulated_factories(site: SiteConfig, edge_id: str) -> HardwareFactories:
    """``simulated_hardware`` without the simulator handles (for ``anju edge --simulate``)."""
    _sims, camera, relay, sensor = simulated_hardware(site, edge_id)
    return camera, relay, sensor
