"""Parking: slot occupancy from a camera or ground sensors, debounced slot states, who is
inside (gates <-> bays), and parking-rule violation candidates with evidence.

Pure logic except ``SlotOccupancyDetector`` (OpenCV on frames it is given) and the
background save/load; MQTT and the hub are wired by the edge agent.
"""

from edge.car_park.ledger import AdmitReason, CarParkLedger, Overstay, Visit
from edge.car_park.monitor import CarParkMonitor, Evidence, MonitorUpdate, slot_state, zone_rules
from edge.car_park.rules import ViolationCandidate, ViolationKind, ViolationLatch, ZoneRule
from edge.car_park.sensors import SensorBank, SensorObservation, SensorOccupancy
from edge.car_park.slots import (
    CarParkSnapshot,
    DebounceConfig,
    SlotChange,
    SlotStateMachine,
    SlotTracker,
    ZoneCount,
)
from recognition.parking.detector import SlotObservation, SlotOccupancyDetector

__all__ = [
    "AdmitReason",
    "CarParkLedger",
    "CarParkMonitor",
    "CarParkSnapshot",
    "DebounceConfig",
    "Evidence",
    "MonitorUpdate",
    "Overstay",
    "SensorBank",
    "SensorObservation",
    "SensorOccupancy",
    "SlotChange",
    "SlotObservation",
    "SlotOccupancyDetector",
    "SlotStateMachine",
    "SlotTracker",
    "ViolationCandidate",
    "ViolationKind",
    "ViolationLatch",
    "Visit",
    "ZoneCount",
    "ZoneRule",
    "slot_state",
    "zone_rules",
]
