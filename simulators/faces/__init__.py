"""Real face photographs (see README.md here: sources and licences) that the simulators
render at pedestrian gates and the demo enrols; tests and benchmarks use them too."""

from pathlib import Path

FACES_DIR = Path(__file__).resolve().parent
