"""Face access at pedestrian gates: detection/encoding, matching, liveness, decisions."""
