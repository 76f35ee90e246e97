"""Tunable numbers of the face stack, in one place (pure data, no I/O).

Every default is justified by a measurement; ``bench/face.py`` prints the figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Smallest face box (dlib box side, px) that dlib's HOG detector finds without upsampling.
# Measured on the fixture portraits rescaled: every face of 60 px or more was found, two of
# five at 50 px. 70 keeps a margin, so a frame may be shrunk until its smallest expected face
# is 70 px before detection.
HOG_MIN_FACE_PX = 70

# dlib's documented tolerance for its 128-d model (99.38% on LFW at 0.6).
DLIB_TOLERANCE = 0.6


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    """How to look for faces in a gate frame.

    ``min_face_px``: the smallest face the gate's camera geometry gives (gate frames here:
    faces of 80-300 px at 640x480 and 1280x720; HOG finds large faces at any scale, so only
    the smallest one sets the detection scale). ``roi``: x, y, w, h of the part of the frame
    where a person at the gate stands; None for the whole frame.
    """

    min_face_px: int = 80
    roi: tuple[int, int, int, int] | None = None
    jitters: int = 1  # 1 = one forward pass; more jitters cost linearly and gain little
    # "onnx": dlib's ResNet weights run by onnxruntime (about 7 ms a face here); "dlib":
    # dlib's own code (100-200 ms a face with the BLAS-less dlib-bin wheel), and the only
    # one that jitters.
    encoder: Literal["onnx", "dlib"] = "onnx"

    def __post_init__(self) -> None:
        if self.encoder == "onnx" and self.jitters != 1:
            raise ValueError("jitters other than 1 need encoder='dlib'")

    def plan(self) -> tuple[float, int]:
        """(scale, upsample) for the HOG pass: shrink while the smallest face stays >= the
        HOG minimum; upsample once only when faces smaller than that must be found."""
        if self.min_face_px >= HOG_MIN_FACE_PX:
            return HOG_MIN_FACE_PX / self.min_face_px, 0
        # Upsampling doubles the frame, so shrink first to where that doubling just suffices.
        return min(1.0, HOG_MIN_FACE_PX / (2 * self.min_face_px)), 1


@dataclass(frozen=True, slots=True)
class MatchSettings:
    """``tolerance``: a face is a known person when its distance is at most this.

    0.5, not dlib's 0.6: measured on the real fixture photos (bench/face.py), the same person
    lies at 0.35-0.42 photo to photo and 0.17-0.39 from a gate frame to the enrolled photos,
    different people at 0.71-0.91. 0.5 keeps 0.08 above the worst same-person distance and
    0.2 below the closest stranger. At a gate a false accept (the door opens for the wrong
    person) costs more than a false reject (one more look, or the card/PIN/QR), and with
    hundreds of residents enrolled a stranger meets many templates at once, so the threshold
    sits on the strict side of dlib's 0.6.

    ``ambiguity_margin``: when the second-closest *other* person is within this of the best,
    the match is refused as ambiguous (0 disables the check).
    """

    tolerance: float = 0.5
    ambiguity_margin: float = 0.0


@dataclass(frozen=True, slots=True)
class LivenessSettings:
    """Evidence of a live person across consecutive frames of one face.

    ``min_frames``: frames needed before any verdict. ``eye_change_ncc``: when both eye
    patches (pose-normalised onto the first frame) correlate less than this with the first
    frame's while the nose patch still correlates at least ``control_ncc``, the eyes
    blinked or moved. Measured on simulated 15-frame sequences (bench/face.py): each photo
    attack's lowest frame 0.87 or more, each live sequence's 0.83 or less. 80-px faces are
    the tight case (0.87 vs 0.83); at 22-30% of the frame height it is 0.90 vs 0.79.
    ``blink_drop``/``blink_recover``: an EAR blink is a drop below that fraction of the
    open-eye level and a recovery above the second. ``nonrigid_residual``: RMS residual of
    the best homography between consecutive frames' landmarks (fraction of the inter-ocular
    distance) above which the motion is not that of a flat object; ``nonrigid_pairs`` frame
    pairs must show it. Photo attacks measured up to 0.045 (landmark noise on small faces),
    the simulated live faces up to 0.051, so at 0.08 this cue never decides in simulation:
    it is kept for real heads turning and talking, whose parallax is larger.
    ``still_motion``: landmark motion below which frames count as identical.
    """

    min_frames: int = 3
    window: int = 15
    eye_change_ncc: float = 0.85
    control_ncc: float = 0.85
    blink_drop: float = 0.65
    blink_recover: float = 0.85
    nonrigid_residual: float = 0.08
    nonrigid_pairs: int = 2
    still_motion: float = 0.002
