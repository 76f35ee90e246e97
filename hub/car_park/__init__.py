"""The hub side of the car park: parking violation rules over slot facts and gate decisions."""
