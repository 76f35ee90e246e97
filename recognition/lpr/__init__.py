"""Chinese licence-plate recognition for the edge agents.

``PlateReader().read(frame)`` -> ``list[PlateDetection]`` (best first), and ``PlateVoter`` to
turn the reads of consecutive frames into one decision per vehicle.
"""

from recognition.lpr.reader import PlateReader
from recognition.lpr.types import PlateDetection
from recognition.lpr.voting import SURE_CONFIDENCE, PlateVoter, VoteResult

__all__ = ["SURE_CONFIDENCE", "PlateDetection", "PlateReader", "PlateVoter", "VoteResult"]
