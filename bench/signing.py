"""Cost of the signed control plane: Ed25519 sign and edge-side check of a gate command and of
a face bundle of a given size (canonical JSON of the whole envelope, models/signing.py).

    .venv/bin/python bench/signing.py [--bundle-mb 5.5] [--repeat 2000]
"""

from __future__ import annotations

import argparse
import base64
import os
import time
from datetime import timedelta

from models.messages import MAX_SYNC_BYTES, Kind, make_message, parse_message, utcnow
from models.signing import Expected, check_signed, generate_key, sign_message


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle-mb", type=float, default=5.5, help="sealed bundle size")
    parser.add_argument("--repeat", type=int, default=2000, help="gate commands timed")
    args = parser.parse_args()
    key = generate_key()
    expected = Expected("lakeside", "edge-north", (key.public_key(),))
    command = make_message(
        Kind.GATE_COMMAND, site="lakeside", device="edge-north",
        payload={"gate": "north-vehicle", "action": "open", "reason": "delivery van",
                 "operator": "guard1", "expires_at": utcnow() + timedelta(seconds=10)},
    )  # fmt: skip
    started = time.perf_counter()
    for _ in range(args.repeat):
        signed = sign_message(command, key)
    sign_s = (time.perf_counter() - started) / args.repeat
    received = parse_message(signed.to_json())
    started = time.perf_counter()
    for _ in range(args.repeat):
        check_signed(received, expected, utcnow())
    check_s = (time.perf_counter() - started) / args.repeat
    print(f"gate command ({len(signed.to_json())} B): sign {sign_s * 1e6:.0f} us,"
          f" check {check_s * 1e6:.0f} us")  # fmt: skip

    sealed = base64.b64encode(os.urandom(int(args.bundle_mb * 1e6 * 3 / 4))).decode()
    bundle = make_message(
        Kind.FACE_BUNDLE, site="lakeside", device="hub",
        payload={"format": 1, "site": "lakeside", "version": 3, "sealed": sealed},
    )  # fmt: skip
    started = time.perf_counter()
    signed = sign_message(bundle, key)
    sign_s = time.perf_counter() - started
    raw = signed.to_json()
    received = parse_message(raw, max_bytes=MAX_SYNC_BYTES)
    started = time.perf_counter()
    check_signed(received, expected, utcnow())
    check_s = time.perf_counter() - started
    print(f"face bundle ({len(raw) / 1e6:.1f} MB): sign {sign_s * 1e3:.0f} ms,"
          f" check {check_s * 1e3:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
