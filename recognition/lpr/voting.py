"""Multi-frame voting: one plate decision per vehicle stopped at the barrier.

Pure logic, no I/O. Each frame's best detection votes per character position, weighted by
its per-frame confidence; the decision is taken once enough frames agree.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from models.plate import PlateColor, is_valid_plate
from recognition.lpr.types import PlateDetection


@dataclass(frozen=True)
class VoteResult:
    text: str
    color: PlateColor
    confidence: float  # 0..1: vote agreement times the mean read confidence
    frames: int  # frames that contributed a read
    box: tuple[int, int, int, int]  # box of the best supporting read


class PlateVoter:
    """Combine consecutive frames of one vehicle into one plate decision.

    ``add`` takes each frame's detections (best first, possibly empty). ``result`` returns
    None until at least ``min_frames`` reads agree enough, or ``max_frames`` frames were seen
    (then it decides with what it has, if anything). ``reset`` when the vehicle has gone.
    """

    def __init__(
        self, *, min_frames: int = 3, max_frames: int = 8, min_confidence: float = 0.6
    ) -> None:
        if min_frames < 1 or max_frames < min_frames:
            raise ValueError("need 1 <= min_frames <= max_frames")
        self.min_frames = min_frames
        self.max_frames = max_frames
        self.min_confidence = min_confidence
        self.reset()

    def reset(self) -> None:
        self._reads: list[PlateDetection] = []
        self._frames = 0

    @property
    def frames_seen(self) -> int:
        return self._frames

    def add(self, detections: Sequence[PlateDetection]) -> None:
        self._frames += 1
        if detections:
            self._reads.append(detections[0])

    def _tally(self) -> VoteResult | None:
        if not self._reads:
            return None
        # Length first (7 vs 8), by summed confidence; then each position by weighted votes.
        by_len: defaultdict[int, float] = defaultdict(float)
        for r in self._reads:
            by_len[len(r.text)] += r.confidence
        length = max(by_len, key=lambda n: by_len[n])
        reads = [r for r in self._reads if len(r.text) == length]
        total = sum(r.confidence for r in reads) or 1e-9
        chars, agreement = [], 1.0
        for i in range(length):
            votes: defaultdict[str, float] = defaultdict(float)
            for r in reads:
                votes[r.text[i]] += r.confidence
            ch, w = max(votes.items(), key=lambda kv: kv[1])
            chars.append(ch)
            agreement = min(agreement, w / total)
        text = "".join(chars)
        colors = Counter(r.color for r in reads if r.color is not PlateColor.UNKNOWN)
        color = colors.most_common(1)[0][0] if colors else PlateColor.UNKNOWN
        support = [r for r in reads if r.text == text]
        mean_conf = sum(r.confidence for r in reads) / len(reads)
        best = max(support or reads, key=lambda r: r.confidence)
        confidence = agreement * mean_conf * min(1.0, len(reads) / self.min_frames)
        if not is_valid_plate(text):
            return None
        return VoteResult(text, color, round(confidence, 4), len(reads), best.box)

    def result(self) -> VoteResult | None:
        """The decision, or None while still undecided (or nothing was read)."""
        vote = self._tally()
        if vote is None:
            return None
        if vote.frames >= self.min_frames and vote.confidence >= self.min_confidence:
            return vote
        if self._frames >= self.max_frames and vote.confidence >= self.min_confidence / 2:
            return vote
        return None
