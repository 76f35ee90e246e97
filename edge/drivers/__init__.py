"""Real hardware drivers behind the interfaces in ``edge/interfaces.py``."""
