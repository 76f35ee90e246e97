"""The hub side of vehicle gates: the vehicle list (residents, blacklist, passes) it syncs to the
edges."""
