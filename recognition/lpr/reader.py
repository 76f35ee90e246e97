"""The plate reader: frame in, plates out (localise -> rectify -> read -> type)."""

from __future__ import annotations

import cv2
import numpy as np

from models.plate import PlateColor, province
from recognition.lpr.color import background_color, plate_color, red_suffix
from recognition.lpr.locator import (
    CROP_H,
    TEXT_MARGIN,
    TEXT_W,
    Candidate,
    covered,
    iou,
    ranked_candidates,
    rectify,
    text_crop,
)
from recognition.lpr.ranking import rank_plates
from recognition.lpr.recognizer import PlateRead, PlateRecognizer
from recognition.lpr.types import PlateDetection

# A crop is read when it looks like a row of characters; a few weaker ones are tried when
# nothing was found, so a blurred or dark plate still gets its chance.
MIN_ROW_SCORE = 3.0
MAX_READS = 6
RESCUE_READS = 3
# Accept a read when the grammar-constrained characters are this probable (see PlateRead).
MIN_CONFIDENCE = 0.32
# A lower bar (this fraction of it) when the plate's own marks are plainly there (at least
# PLAIN_MARK): the separator dot or a Chinese character in front of the letter (signs and
# stickers have neither), so that one badly blurred character does not lose a plate.
MARKED_FACTOR = 0.625
PLAIN_MARK = 0.7
# A last character read less surely than this, next to a red one, may be a police 警.
SUFFIX_UNSURE = 0.5
# A province read less surely than this gets a second look (PlateRecognizer.second_look).
PROVINCE_SURE = 0.5
# A full read is one model run on a 168 px crop. The best-ranked candidate is always read;
# any further one is first probed: does a Chinese character or the separator dot show at all?
# Lettering that is not a plate (signs, stickers) has neither, and is then not read. A blue
# or green outline (types that never carry a suffix) has the front of its crop probed at
# 80 px (about half a full read's cost), any other the whole line at 120 px (~70%): the
# plate's only legible Chinese character may be its suffix (警/港/澳/学/挂).
# At most this many probes a frame.
PROBE_MIN = 0.02
WHOLE_PROBE_MIN = 0.05
MAX_PROBES = 4
# An outline overlapping (IoU above this) one whose probe failed frames the same lettering
# and is not probed again. IoU, not coverage: a tight outline inside a loose rejected one
# (the car's front around a plate) overlaps it little and still gets its probe.
SAME_LETTERING_IOU = 0.15
# Once a plate is found, further plates are looked for among fairly clear character rows
# only (a small plate beside a large one often scores 2.5-3).
MORE_PLATES_SCORE = 2.5
# A read less confident than this, of lettering with a plate's marks, is re-read from the
# character row cut with these other margins (fractions of the outline's width, height;
# the first read uses locator.TEXT_MARGIN): taller, wider, narrower. Chosen on the
# independent generator's development split (seed 5150), never on its report split.
REREAD_BELOW = 0.6
REREAD_MARGINS = (
    (TEXT_MARGIN[0], 0.0),
    (TEXT_MARGIN[0], 0.08),
    (0.07, TEXT_MARGIN[1]),
    (0.0, -0.12),
)
_NOT_POLICE = (PlateColor.BLACK, PlateColor.BLUE, PlateColor.GREEN)
_NO_SUFFIX = (PlateColor.BLUE, PlateColor.GREEN)


class PlateReader:
    """Reads Chinese plates in BGR frames. Load once, call ``read`` per frame."""

    def __init__(
        self,
        *,
        threads: int = 1,
        min_confidence: float = MIN_CONFIDENCE,
        max_plates: int | None = None,
        home_province: str | None = None,
    ) -> None:
        """``min_confidence``: lower it when a PlateVoter decides over several frames anyway
        (more small/blurred plates get through, with some more false reads).
        ``max_plates``: stop after this many plates (1 for a barrier camera that sees one car
        at a time: saves the reads of other text in the scene); None reads every plate.
        ``home_province``: where most cars at this site are registered; an unsure province
        leans to it (site config ``site.home_province``)."""
        if home_province is not None:
            province(home_province)
        cv2.setNumThreads(threads)
        self._rec = PlateRecognizer(threads=threads, width=TEXT_W)
        self.min_confidence = min_confidence
        self.max_plates = max_plates
        self.home_province = home_province

    def read(self, frame_bgr: np.ndarray) -> list[PlateDetection]:
        """Plates in the frame, best first (the car at the gate: see ranking.py); [] when
        there is none."""
        if frame_bgr is None or frame_bgr.ndim != 3 or frame_bgr.shape[0] < 16:
            return []
        cands = ranked_candidates(frame_bgr)
        found: list[PlateDetection] = []
        rejected: list[tuple[int, int, int, int]] = []
        reads = probes = rescue = 0
        for cand in cands:
            if reads >= MAX_READS or (self.max_plates and len(found) >= self.max_plates):
                break
            # A plate already read, or an outline around it (the car's front, say).
            if any(iou(cand.box, d.box) > 0.2 or covered(cand.box, d.box) > 0.6 for d in found):
                continue
            if any(iou(cand.box, r) > SAME_LETTERING_IOU for r in rejected):
                continue
            if found:
                if cand.score < MORE_PLATES_SCORE:
                    continue
            elif cand.score < MIN_ROW_SCORE:
                # Weak rows while nothing is found: a blurred or dark plate.
                if rescue >= RESCUE_READS:
                    continue
                rescue += 1
            if reads and probes >= MAX_PROBES:
                break
            crop = text_crop(frame_bgr, cand.quad)
            assert cand.crop is not None
            seen, _ = background_color(cand.crop)
            if reads:
                probes += 1
                if not self._probe(crop, seen):
                    rejected.append(cand.box)
                    continue
            reads += 1
            det = self._read_candidate(frame_bgr, crop, cand, seen)
            # One car carries one plate text: a second read of it is the same plate again.
            if det is not None and all(det.text != d.text for d in found):
                found.append(det)
        # The car at the gate first: near (wide) and low, not only sure (ranking.py).
        return rank_plates(found, frame_bgr.shape[1], frame_bgr.shape[0])

    def _probe(self, crop: np.ndarray, seen: PlateColor) -> bool:
        """Whether the model sees a plate's marks in a text crop (worth a full read); ``seen``
        is the outline's background colour."""
        if seen in _NO_SUFFIX:
            return self._rec.plate_probe(crop) >= PROBE_MIN
        return self._rec.plate_probe(crop, whole=True) >= WHOLE_PROBE_MIN

    def _read_candidate(
        self, frame: np.ndarray, text: np.ndarray, cand: Candidate, seen: PlateColor
    ) -> PlateDetection | None:
        assert cand.crop is not None
        red = red_suffix(cand.crop)
        read, near = self._read_text(text, seen, red)
        if near is not None and near.confidence < REREAD_BELOW:
            # A doubtful read of what carries a plate's marks: the outline may sit a little
            # off the character row (another camera, another plate maker). Re-read the row
            # cut a few other ways and keep the most confident reading.
            for margin in REREAD_MARGINS:
                crop = rectify(frame, cand.quad, margin, (TEXT_W, CROP_H), cv2.INTER_CUBIC)
                alt, _ = self._read_text(crop, seen, red)
                if alt is not None and (read is None or alt.confidence > read.confidence):
                    read = alt
        if read is None:
            return None
        color = plate_color(read.text, cand.crop)
        return PlateDetection(read.text, color, round(read.confidence, 4), cand.box)

    def _read_text(
        self, text: np.ndarray, seen: PlateColor, red: bool
    ) -> tuple[PlateRead | None, PlateRead | None]:
        """(the accepted read or None, the read when it carries a plate's marks or was
        accepted: worth another look when doubtful, else None)."""
        # A red 警 sits on a white plate: red beside a dark or coloured plate is the car...
        police = seen not in _NOT_POLICE and red
        probs = self._rec.probabilities(text, self._rec.width)
        read = self._rec.decode(probs, PlateColor.WHITE if police else seen, certain=police)
        if red and not police and read is not None and read.char_probs[-1] < SUFFIX_UNSURE:
            # ... unless the plate's colour was misjudged (a crop cut into the car, a tinted
            # light) and the last character reads as nothing in particular: then try 警.
            alt = self._rec.decode(probs, PlateColor.WHITE, certain=True)
            if alt is not None and alt.confidence > read.confidence:
                read = alt
        if read is None:
            return None, None
        marked = self._marked(read)
        if read.confidence < self._threshold(read):
            return None, read if marked else None
        if read.char_probs[0] < PROVINCE_SURE:
            read = self._rec.second_look(text, read, self.home_province)
        return read, read

    @staticmethod
    def _marked(read: PlateRead) -> bool:
        return max(read.province_cjk, read.dot, read.char_probs[0]) >= PLAIN_MARK

    def _threshold(self, read: PlateRead) -> float:
        return self.min_confidence * (MARKED_FACTOR if self._marked(read) else 1.0)
