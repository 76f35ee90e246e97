"""Face stack figures: detect+encode latency, 10k matching time, real-photo distances,
liveness on simulated live and photo-attack sequences, enrolment quality measures.

    python bench/face.py            # everything (about 2-3 minutes on one core)
    python bench/face.py --quick    # fewer repetitions
    python bench/face.py --only latency matching

Every stage runs on one thread (dlib's encoder and HOG are single-threaded, OpenCV is set
to one thread, matching uses numpy's own loop, not threaded BLAS). On a shared machine the
medians include time the process waited for a core; ``min`` is the uncontended cost.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
import warnings
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore", message="pkg_resources is deprecated")

from edge.pedestrian_gate.reader import GateFaceReader  # noqa: E402
from recognition.face.detector import FaceStack, load_rgb  # noqa: E402
from recognition.face.liveness import LivenessChecker  # noqa: E402
from recognition.face.matcher import FaceMatcher  # noqa: E402
from recognition.face.quality import check_image, enrolment_stack  # noqa: E402
from recognition.face.settings import DetectorSettings  # noqa: E402
from simulators.faces import FACES_DIR  # noqa: E402
from simulators.people import render_gate_sequence  # noqa: E402

PEOPLE = {"obama": ["obama", "obama2", "obama3"], "biden": ["biden"], "astronaut": ["astronaut"]}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def latency(frames: list[np.ndarray], stack: FaceStack, repeat: int) -> tuple[list[float], int]:
    times, found = [], 0
    for _ in range(repeat):
        for frame in frames:
            start = time.perf_counter()
            faces = stack.observe(frame, encode=True, max_faces=1)
            times.append((time.perf_counter() - start) * 1000)
            found += bool(faces)
    return times, found


def bench_latency(repeat: int) -> None:
    print("== detect + landmarks + encode, one face per frame (ms per frame, one thread)")
    portraits = [load_rgb(FACES_DIR / f"{n}.jpg") for n in ("obama", "biden", "astronaut")]
    for size in ((640, 480), (1280, 720)):
        frames = []
        for i, portrait in enumerate(portraits):
            frames += render_gate_sequence(portrait, live=True, frames=4, seed=i, size=size)
        w, h = size
        roi = (w // 5, 0, 3 * w // 5, h * 4 // 5)  # the walkway: middle 60%, upper 80%
        for label, settings in (
            ("whole frame", DetectorSettings()),
            (f"roi {roi}", DetectorSettings(roi=roi)),
        ):
            stack = FaceStack(settings)
            stack.observe(frames[0])  # warm-up
            times, found = latency(frames, stack, repeat)
            scale, upsample = stack.scale, stack.upsample
            print(
                f"  {w}x{h} {label:28s} scale {scale:.3f} upsample {upsample}: "
                f"median {statistics.median(times):6.1f}  p95 {percentile(times, 95):6.1f}  "
                f"min {min(times):6.1f}  faces found {found}/{len(times)}"
            )
        # Where the time goes: detection alone vs the encoder.
        stack = FaceStack(DetectorSettings())
        det = []
        for frame in frames:
            start = time.perf_counter()
            stack.observe(frame, encode=False, max_faces=1)
            det.append((time.perf_counter() - start) * 1000)
        print(
            f"  {w}x{h} detect + landmarks only (no encoding): "
            f"median {statistics.median(det):6.1f}  min {min(det):6.1f}"
        )


def bench_encoder(repeat: int) -> None:
    """The 128-d encoder alone on one aligned chip: dlib's own code vs onnxruntime."""
    import dlib
    from face_recognition import api as fr_api

    from recognition.face.detector import onnx_encoder

    print("== 128-d encoder alone, one 150x150 chip (ms, one thread)")
    rgb = load_rgb(FACES_DIR / "obama.jpg")
    rect = fr_api.face_detector(rgb, 1)[0]
    shape = fr_api.pose_predictor_68_point(rgb, rect)
    chip = dlib.get_face_chip(rgb, shape, 150, 0.25)
    encoder = onnx_encoder()
    runs = {
        "dlib (dlib-bin, no BLAS)": lambda: fr_api.face_encoder.compute_face_descriptor(chip),
        "onnxruntime (same weights)": lambda: encoder.encode_chips(chip),
    }
    for label, run in runs.items():
        run()
        times = []
        for _ in range(max(5, repeat * 5)):
            start = time.perf_counter()
            run()
            times.append((time.perf_counter() - start) * 1000)
        print(f"  {label:28s} median {statistics.median(times):6.1f}  min {min(times):6.1f}")
    ours = encoder.encode_chips(chip)[0]
    theirs = np.array(fr_api.face_encoder.compute_face_descriptor(chip))
    print(f"  difference between the two descriptors: {np.linalg.norm(ours - theirs):.2e}")


def bench_reader() -> None:
    print("== gate reader per frame: detect every frame, encode twice per passage (ms)")
    enc = encodings_of(["obama", "obama2"])
    matcher = FaceMatcher([("obama", "resident", np.array([enc["obama"], enc["obama2"]]))])
    for size in ((640, 480), (1280, 720)):
        frames = render_gate_sequence(
            load_rgb(FACES_DIR / "obama3.jpg"), live=True, frames=15, seed=21, size=size
        )
        reader, times, reading = GateFaceReader(FaceStack(), matcher), [], None
        for frame in frames:
            start = time.perf_counter()
            reading = reader.feed(frame) or reading
            times.append((time.perf_counter() - start) * 1000)
            if reading:
                break
        print(
            f"  {size[0]}x{size[1]}: {len(times)} frames to a decision "
            f"({reading.liveness.reason if reading else 'none'}, "
            f"{reading.attempt.person if reading else None}); per frame median "
            f"{statistics.median(times):.1f}, p95 {percentile(times, 95):.1f}, "
            f"passage total {sum(times):.0f}"
        )


def encodings_of(names: list[str]) -> dict[str, np.ndarray]:
    stack = enrolment_stack()
    out = {}
    for name in names:
        faces = stack.observe(load_rgb(FACES_DIR / f"{name}.jpg"), encode=True, max_faces=1)
        out[name] = faces[0].encoding
    return out


def bench_matching(repeat: int) -> None:
    print("== matching one query against 10,000 enrolled encodings (ms, one thread)")
    real = np.array(list(encodings_of(["obama", "biden", "astronaut"]).values()))
    rng = np.random.default_rng(0)
    # Synthetic gallery for timing only: real encodings plus noise of the spread between people.
    gallery = real[rng.integers(0, len(real), 10_000)] + rng.normal(0, 0.05, (10_000, 128))
    for per_person in (1, 5):
        persons = [
            (f"p{i}", "resident", gallery[i * per_person : (i + 1) * per_person])
            for i in range(10_000 // per_person)
        ]
        matcher = FaceMatcher(persons)
        query = real[0] + rng.normal(0, 0.02, 128)
        times = []
        for _ in range(repeat * 50):
            start = time.perf_counter()
            matcher.match(query)
            times.append((time.perf_counter() - start) * 1000)
        print(
            f"  {len(matcher)} encodings, {per_person} per person: "
            f"median {statistics.median(times):.3f}  p95 {percentile(times, 95):.3f}  "
            f"min {min(times):.3f}"
        )


def bench_distances() -> None:
    print("== distances between the real photos (enrolment pipeline, one encoding each)")
    names = [n for group in PEOPLE.values() for n in group]
    enc = encodings_of(names)
    owner = {n: person for person, group in PEOPLE.items() for n in group}
    same, diff = [], []
    for a, b in itertools.combinations(names, 2):
        d = float(np.linalg.norm(enc[a] - enc[b]))
        (same if owner[a] == owner[b] else diff).append(d)
        print(f"  {a:10s} {b:10s} {'same' if owner[a] == owner[b] else 'diff'}  {d:.3f}")
    print(
        f"  same person: {min(same):.3f}-{max(same):.3f}; "
        f"different: {min(diff):.3f}-{max(diff):.3f}"
    )

    print("== gate frames (simulated camera, 640x480 and 1280x720) vs enrolled photos")
    stack = FaceStack()
    gallery = FaceMatcher(
        [
            ("obama", "resident", np.array([enc["obama"], enc["obama2"]])),
            ("biden", "resident", enc["biden"][None]),
            ("astronaut", "resident", enc["astronaut"][None]),
        ],
    )
    same, diff = [], []
    for probe in ("obama3", "biden", "astronaut"):
        portrait = load_rgb(FACES_DIR / f"{probe}.jpg")
        for size in ((640, 480), (1280, 720)):
            for frame in render_gate_sequence(portrait, live=True, frames=3, seed=7, size=size):
                faces = stack.observe(frame, max_faces=1)
                if not faces:
                    continue
                d2 = gallery.squared_distances(faces[0].encoding[None])[0]
                per_person = np.sqrt(np.minimum.reduceat(d2, gallery.starts))
                for pid, d in zip(gallery.person_ids, per_person, strict=True):
                    (same if pid == owner[probe] else diff).append(float(d))
    print(
        f"  same person: {min(same):.3f}-{max(same):.3f} (median {statistics.median(same):.3f}, "
        f"n={len(same)}); different: {min(diff):.3f}-{max(diff):.3f} (n={len(diff)})"
    )


def bench_liveness(seeds: int) -> None:
    print("== liveness on simulated sequences (15 frames each, all five portraits)")
    stack = FaceStack()
    for size, face_px in (
        ((640, 480), None),
        ((1280, 720), None),
        ((640, 480), 80),
        ((1280, 720), 300),
    ):
        for live in (True, False):
            verdicts, eye_ncc, residual = [], [], []
            for name in ("obama", "obama2", "obama3", "biden", "astronaut"):
                portrait = load_rgb(FACES_DIR / f"{name}.jpg")
                for seed in range(seeds):
                    checker, verdict = LivenessChecker(), None
                    sequence = render_gate_sequence(
                        portrait, live=live, frames=15, seed=100 + seed, size=size, face_px=face_px
                    )
                    for frame in sequence:
                        faces = stack.observe(frame, encode=False, max_faces=1)
                        if faces:
                            verdict = checker.update(faces[0].landmarks, frame)
                    verdicts.append(bool(verdict and verdict.live))
                    if verdict:
                        eye_ncc.append(verdict.min_eye_ncc)
                        residual.append(verdict.max_residual)
            kind = "live " if live else "photo"
            face_label = f"face {face_px} px" if face_px else "face 22-30% of height"
            print(
                f"  {size[0]}x{size[1]} {face_label:21s} {kind}: "
                f"judged live {sum(verdicts)}/{len(verdicts)}; "
                f"min eye NCC {min(eye_ncc):.2f}-{max(eye_ncc):.2f}; "
                f"max homography residual {min(residual):.3f}-{max(residual):.3f}"
            )


def bench_quality() -> None:
    print("== enrolment quality measures")
    stack = enrolment_stack()
    for name in ("obama", "obama2", "obama3", "biden", "astronaut", "obama_partial"):
        rgb = load_rgb(FACES_DIR / f"{name}.jpg")
        sharp = check_image(rgb, stack)
        blurred = check_image(cv2.GaussianBlur(rgb, (0, 0), 3.0), stack)
        print(
            f"  {name:13s} ok={sharp.ok!s:5s} sharpness {sharp.sharpness:6.1f} "
            f"(blurred 3 px: {blurred.sharpness:5.1f}) yaw {sharp.yaw:+.2f} "
            f"roll {sharp.roll_deg:+.1f} {'; '.join(sharp.problems)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    sections = ["encoder", "latency", "reader", "matching", "distances", "liveness", "quality"]
    parser.add_argument("--only", nargs="+", choices=sections, default=sections)
    args = parser.parse_args()
    repeat = 1 if args.quick else 3
    cv2.setNumThreads(1)
    runs = {
        "encoder": lambda: bench_encoder(repeat),
        "latency": lambda: bench_latency(repeat),
        "reader": bench_reader,
        "matching": lambda: bench_matching(repeat),
        "distances": bench_distances,
        "liveness": lambda: bench_liveness(1 if args.quick else 3),
        "quality": bench_quality,
    }
    for name in args.only:
        runs[name]()


if __name__ == "__main__":
    main()
