"""The plate reader: frame in, plates out (localise -> rectify -> read -> type)."""

from __future__ import annotations

import cv2
import numpy as np

from edge.lpr.color import background_color, plate_color, red_suffix
from edge.lpr.locator import TEXT_W, Candidate, iou, ranked_candidates, text_crop
from edge.lpr.recognizer import PlateRecognizer
from edge.lpr.types import PlateDetection
from models.plate import PlateColor

# A crop is read when it looks like a row of characters; a few weaker ones are tried when
# nothing was found, so a blurred or dark plate still gets its chance.
MIN_ROW_SCORE = 3.0
MAX_READS = 6
RESCUE_READS = 3
# Accept a read when the grammar-constrained characters are this probable (see PlateRead).
MIN_CONFIDENCE = 0.32
# Every full read costs ~12-15 ms. The best-ranked candidate is always read; any further one
# is first probed, read by the model at 120 px (~8 ms): does any Chinese character or the
# separator dot show at all? Lettering that is not a plate (signs, stickers) has neither, and
# is then not read. At most this many probes a frame.
PROBE_MIN = 0.05
MAX_PROBES = 4
# Once a plate is found, further plates are looked for among clear character rows only.
MORE_PLATES_SCORE = 3.0
_NOT_POLICE = (PlateColor.BLACK, PlateColor.BLUE, PlateColor.GREEN)


class PlateReader:
    """Reads Chinese plates in BGR frames. Load once, call ``read`` per frame."""

    def __init__(
        self,
        *,
        threads: int = 1,
        min_confidence: float = MIN_CONFIDENCE,
        max_plates: int | None = None,
    ) -> None:
        """``min_confidence``: lower it when a PlateVoter decides over several frames anyway
        (more small/blurred plates get through, with some more false reads).
        ``max_plates``: stop after this many plates (1 for a barrier camera that sees one car
        at a time: saves the reads of other text in the scene); None reads every plate."""
        cv2.setNumThreads(threads)
        self._rec = PlateRecognizer(threads=threads, width=TEXT_W)
        self.min_confidence = min_confidence
        self.max_plates = max_plates

    def read(self, frame_bgr: np.ndarray) -> list[PlateDetection]:
        """Plates in the frame, best first; [] when there is none."""
        if frame_bgr is None or frame_bgr.ndim != 3 or frame_bgr.shape[0] < 16:
            return []
        cands = ranked_candidates(frame_bgr)
        found: list[PlateDetection] = []
        reads = probes = rescue = 0
        for cand in cands:
            if reads >= MAX_READS or (self.max_plates and len(found) >= self.max_plates):
                break
            if any(iou(cand.box, d.box) > 0.2 for d in found):
                continue
            if cand.score < MIN_ROW_SCORE:
                # Weak rows only while nothing is found (a blurred or dark plate).
                if found or rescue >= RESCUE_READS:
                    continue
                rescue += 1
            crop = text_crop(frame_bgr, cand.quad)
            if reads:
                if probes >= MAX_PROBES:
                    break
                if found and cand.score < MORE_PLATES_SCORE:
                    continue
                probes += 1
                if self._rec.plate_probe(crop) < PROBE_MIN:
                    continue
            reads += 1
            det = self._read_candidate(crop, cand)
            if det is not None:
                found.append(det)
        found.sort(key=lambda d: d.confidence, reverse=True)
        return found

    def _read_candidate(self, text: np.ndarray, cand: Candidate) -> PlateDetection | None:
        assert cand.crop is not None
        seen, _ = background_color(cand.crop)
        # A red 警 sits on a white plate: red beside a dark or coloured plate is the car.
        police = seen not in _NOT_POLICE and red_suffix(cand.crop)
        read = self._rec.read(text, PlateColor.WHITE if police else seen, certain=police)
        if read is None or read.confidence < self.min_confidence:
            return None
        color = plate_color(read.text, cand.crop)
        return PlateDetection(read.text, color, round(read.confidence, 4), cand.box)
