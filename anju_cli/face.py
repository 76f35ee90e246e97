"""``anju face enroll | delete | identify`` and ``anju face credential set | remove | list``:
typer-style commands over the face store.

The integrator registers them (``app.add_typer(face_app, name="face")`` or one by one);
each function is a plain callable, so tests call them directly too.
"""

from __future__ import annotations

import csv
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from hub.pedestrian_gate.store import CARD, PIN, FaceStore, StoreError
from models.face_bundle import FaceCipher, FaceKeyError, load_face_key
from models.passes import unit_pin
from recognition.face.matcher import FaceMatcher
from recognition.face.settings import DLIB_TOLERANCE

DEFAULT_DB = Path("data/hub.db")

DbOption = Annotated[Path, typer.Option("--db", help="hub database file")]
KeyOption = Annotated[
    Path | None,
    typer.Option(
        "--key-file", help="face key file (default: $ANJU_FACE_KEY / $ANJU_FACE_KEY_FILE)"
    ),
]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _cipher(key_file: Path | None) -> FaceCipher:
    try:
        return FaceCipher(load_face_key(key_file))
    except FaceKeyError as exc:
        raise _fail(str(exc)) from None


def inconsistent_pairs(
    encodings: list[np.ndarray], tolerance: float
) -> list[tuple[int, int, float]]:
    """Pairs of images of one enrolment whose faces are farther apart than ``tolerance``:
    the photos are not all of the same person."""
    pairs = []
    for i in range(len(encodings)):
        for j in range(i + 1, len(encodings)):
            distance = float(np.linalg.norm(encodings[i] - encodings[j]))
            if distance > tolerance:
                pairs.append((i, j, distance))
    return pairs


def enroll_main(
    images: Annotated[list[Path], typer.Argument(help="photos of the person, one face each")],
    site: Annotated[str, typer.Option("--site", help="site id")],
    person: Annotated[str, typer.Option("--person", help="person id")],
    consent_by: Annotated[str, typer.Option("--consent-by", help="who gave the consent")],
    purpose: Annotated[str, typer.Option("--purpose", help="purpose the consent covers")],
    role: Annotated[str, typer.Option("--role", help="resident or blacklist")] = "resident",
    consent_days: Annotated[int, typer.Option("--consent-days", min=1)] = 365,
    db: DbOption = DEFAULT_DB,
    key_file: KeyOption = None,
) -> None:
    """Check each photo, store its 128-d encoding (never the photo) and record the consent."""
    cipher = _cipher(key_file)
    # dlib and its models load in seconds: only for the commands that look at faces.
    from recognition.face.detector import load_rgb
    from recognition.face.quality import check_image, enrolment_stack

    stack = enrolment_stack()
    accepted: list[tuple[Path, np.ndarray]] = []
    for path in images:
        try:
            report = check_image(load_rgb(path), stack)
        except ValueError as exc:
            typer.echo(f"rejected {path}: {exc}")
            continue
        if not report.ok:
            typer.echo(f"rejected {path}: {'; '.join(report.problems)}")
            continue
        assert report.face is not None and report.face.encoding is not None
        typer.echo(
            f"accepted {path}: face {report.face.size} px, sharpness {report.sharpness:.0f}, "
            f"yaw {report.yaw:+.2f}"
        )
        accepted.append((path, report.face.encoding))
    if not accepted:
        raise _fail("no usable photo; nothing enrolled")
    with FaceStore(db, cipher) as store:
        existing = list(store.encodings(person))
        encodings = existing + [e for _, e in accepted]
        # Photos of one person vary up to about 0.42 here; strangers start near 0.7. dlib's
        # looser 0.6 tells a mixed-up set of photos without refusing a real one.
        if bad := inconsistent_pairs(encodings, DLIB_TOLERANCE):
            i, j, distance = bad[0]
            raise _fail(
                f"the photos do not all show one person (distance {distance:.2f} > "
                f"{DLIB_TOLERANCE} between face {i + 1} and {j + 1}, counting already "
                "enrolled ones first); nothing enrolled"
            )
        # The same face under another id (a blacklisted person enrolling as a resident,
        # or a resident enrolled twice) is refused: one face, one person.
        others = [
            (p["id"], p["role"], np.asarray(p["encodings"]))
            for p in store.export_bundle(site)["persons"]
            if p["id"] != person
        ]
        clash = FaceMatcher(others).match_many(np.array([e for _, e in accepted]))
        for (path, _), match in zip(accepted, clash, strict=True):
            if match.person is not None:
                raise _fail(
                    f"{path} matches {match.person} ({match.role}, distance "
                    f"{match.distance:.2f}) already enrolled at {site}; nothing enrolled"
                )
        now = datetime.now(UTC)
        try:
            version = store.enroll(
                site=site,
                person=person,
                role=role,
                encodings=[e for _, e in accepted],
                consent_by=consent_by,
                purpose=purpose,
                expires_at=now + timedelta(days=consent_days),
                now=now,
            )
        except StoreError as exc:
            raise _fail(str(exc)) from None
        total = len(store.encodings(person))
    typer.echo(
        f"enrolled {person} ({role}) at {site}: {len(accepted)} new encoding(s), {total} in all; "
        f"consent by {consent_by} until {(now + timedelta(days=consent_days)).date()}; "
        f"face bundle version {version}"
    )


def delete_main(
    person: Annotated[str, typer.Option("--person", help="person id to erase")],
    operator: Annotated[str, typer.Option("--by", help="operator carrying out the erasure")] = "",
    reason: Annotated[str, typer.Option("--reason")] = "erasure request",
    db: DbOption = DEFAULT_DB,
) -> None:
    """Erase a person's face data everywhere: hub store now, edges with the next bundle."""
    operator = operator or _default_operator()
    with FaceStore(db, None) as store:
        try:
            erasure = store.delete(person, operator=operator, reason=reason)
        except StoreError as exc:
            raise _fail(str(exc)) from None
    typer.echo(
        f"erased {person} at {erasure.site}: {erasure.encodings_erased} encoding(s), "
        f"{erasure.consents_erased} consent record(s), {erasure.credentials_erased} PIN/card(s); "
        "face bundle version "
        f"{erasure.bundle_version} (edges drop the person when they receive it)"
    )


def _default_operator() -> str:
    import getpass

    return getpass.getuser()


def identify_main(
    images: Annotated[list[Path], typer.Argument(help="images to identify faces in")],
    json_output: Annotated[bool, typer.Option("--json", help="one JSON document")] = False,
    site: Annotated[str | None, typer.Option("--site", help="only this site's persons")] = None,
    db: DbOption = DEFAULT_DB,
    key_file: KeyOption = None,
) -> None:
    """Who is in each image: person id (or null), distance and box per face."""
    cipher = _cipher(key_file)
    with FaceStore(db, cipher) as store:
        sites = [site] if site else store.sites()
        persons = []
        for s in sites:
            persons += [
                (p["id"], p["role"], np.asarray(p["encodings"]))
                for p in store.export_bundle(s)["persons"]
            ]
    matcher = FaceMatcher(persons)
    # dlib and its models load in seconds: only for the commands that look at faces.
    from recognition.face.detector import load_rgb
    from recognition.face.quality import enrolment_stack

    stack = enrolment_stack()
    results = []
    for path in images:
        try:
            rgb = load_rgb(path)
        except ValueError as exc:
            raise _fail(str(exc)) from None
        start = time.perf_counter()
        faces = stack.observe(rgb, encode=True)
        matches = matcher.match_many(np.array([f.encoding for f in faces])) if faces else []
        ms = (time.perf_counter() - start) * 1000.0
        results.append(
            {
                "file": str(path),
                "ms": round(ms, 1),
                "faces": [
                    {"person": m.person, "distance": round(m.distance, 4), "box": list(f.box)}
                    for f, m in zip(faces, matches, strict=True)
                ],
            }
        )
    if json_output:
        typer.echo(json.dumps(results, indent=2))
        return
    for r in results:
        found = ", ".join(
            f"{f['person'] or 'unknown'} ({f['distance']:.2f}) at {f['box']}" for f in r["faces"]
        )
        typer.echo(f"{r['file']}: {found or 'no face'} [{r['ms']:.0f} ms]")


# ---------------------------------------------------------------- PINs and access cards

SiteOption = Annotated[str, typer.Option("--site", help="site id")]
PersonOption = Annotated[str, typer.Option("--person", help="person id")]
OperatorOption = Annotated[
    str, typer.Option("--by", help="operator making the change (default: your login)")
]
_SYNCED = "the running hub sends it to the gates within seconds"


def credential_set_main(
    site: SiteOption,
    person: PersonOption,
    pin: Annotated[str | None, typer.Option("--pin", help="6 to 8 digits, with --unit")] = None,
    unit: Annotated[
        str | None, typer.Option("--unit", help="the resident's unit number, typed before the PIN")
    ] = None,
    card: Annotated[str | None, typer.Option("--card", help="access card id")] = None,
    operator: OperatorOption = "",
    db: DbOption = DEFAULT_DB,
    key_file: KeyOption = None,
) -> None:
    """Give a resident a unit + PIN and/or an access card (replacing theirs); no face needed."""
    if pin is None and card is None:
        raise _fail("give --pin, --card or both")
    if pin is not None and not unit:
        raise _fail("--pin needs --unit: at the keypad a resident types unit number and PIN")
    shown_pin = pin
    if pin is not None:
        pin = unit_pin(unit or "", pin)
    with FaceStore(db, _cipher(key_file)) as store:
        before = store.version(site)
        try:
            version = store.set_credentials(
                site=site,
                person=person,
                pin=pin,
                card=card,
                operator=operator or _default_operator(),
            )
        except (StoreError, FaceKeyError) as exc:  # FaceKeyError: not the key they were sealed with
            raise _fail(str(exc)) from None
    what = " and ".join(
        k
        for k, v in ((f"{PIN} for unit {unit}", shown_pin), (f"card {card}", card))
        if v is not None
    )
    if version == before:
        typer.echo(f"{person} at {site} already has this {what}; nothing changed")
        return
    typer.echo(f"set {what} for {person} at {site}: face bundle version {version} ({_SYNCED})")


def credential_remove_main(
    site: SiteOption,
    person: PersonOption,
    pin: Annotated[bool, typer.Option("--pin", help="remove the person's PIN")] = False,
    card: Annotated[bool, typer.Option("--card", help="remove the person's card")] = False,
    operator: OperatorOption = "",
    db: DbOption = DEFAULT_DB,
) -> None:
    """Take a resident's PIN and/or card away (say which: --pin, --card or both)."""
    kinds = [kind for kind, chosen in ((PIN, pin), (CARD, card)) if chosen]
    if not kinds:
        raise _fail("say what to remove: --pin, --card or both")
    with FaceStore(db, None) as store:  # deleting needs no key
        try:
            version = store.remove_credentials(
                site=site, person=person, kinds=kinds, operator=operator or _default_operator()
            )
        except StoreError as exc:
            raise _fail(str(exc)) from None
    typer.echo(
        f"removed {' and '.join(kinds)} of {person} at {site}: face bundle version {version} "
        f"({_SYNCED})"
    )


def credential_list_main(
    site: SiteOption,
    json_output: Annotated[bool, typer.Option("--json", help="one JSON document")] = False,
    db: DbOption = DEFAULT_DB,
    key_file: KeyOption = None,
) -> None:
    """Who holds a PIN or card at a site, and the card ids; never the PINs."""
    with FaceStore(db, _cipher(key_file)) as store:
        try:
            rows = store.credentials(site)
        except FaceKeyError as exc:
            raise _fail(str(exc)) from None
    listed = [
        {"person": person, "kind": kind} | ({"card": value} if kind == CARD else {})
        for person, kind, value in rows
    ]
    if json_output:
        typer.echo(json.dumps(listed, indent=2))
        return
    for row in listed:
        typer.echo(f"{row['person']}\t{row['kind']}\t{row.get('card', '****')}")
    typer.echo(f"{len({r['person'] for r in listed})} person(s) with a PIN or card at {site}")


def credential_import_main(
    site: SiteOption,
    csv_file: Annotated[
        Path, typer.Argument(help="CSV with a header: person,pin,card (pin or card may be empty)")
    ],
    operator: OperatorOption = "",
    db: DbOption = DEFAULT_DB,
    key_file: KeyOption = None,
) -> None:
    """Set many residents' PINs and cards from a CSV at once: all rows or none, one new
    face bundle version (a resident list handed over by the property office)."""
    try:
        rows = read_credential_csv(csv_file)
    except (OSError, ValueError) as exc:
        raise _fail(f"{csv_file}: {exc}") from None
    with FaceStore(db, _cipher(key_file)) as store:
        before = store.version(site)
        try:
            version = store.import_credentials(
                site=site, rows=rows, operator=operator or _default_operator()
            )
        except (StoreError, FaceKeyError) as exc:
            raise _fail(f"{csv_file}: {exc}; nothing was imported") from None
    if version == before:
        typer.echo(f"{len(rows)} row(s): every resident already had these; nothing changed")
        return
    typer.echo(f"imported {len(rows)} row(s) at {site}: face bundle version {version} ({_SYNCED})")


def read_credential_csv(path: Path) -> list[tuple[str, str | None, str | None]]:
    """(person, unit#pin, card) rows; empty cells are None. A ``unit`` column, if any, goes
    with the ``pin`` (or the pin cell is ``unit#PIN``). Raises ValueError naming the line."""
    with path.open(newline="", encoding="utf-8-sig") as fh:  # Excel writes a BOM
        reader = csv.DictReader(fh)
        missing = {"person", "pin", "card"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"the header lacks {', '.join(sorted(missing))}")
        rows = []
        for line, record in enumerate(reader, start=2):
            person = (record["person"] or "").strip()
            if not person:
                raise ValueError(f"line {line}: no person")
            pin = (record["pin"] or "").strip() or None
            unit = (record.get("unit") or "").strip()
            if pin is not None and unit:
                pin = unit_pin(unit, pin)
            card = (record["card"] or "").strip() or None
            rows.append((person, pin, card))
    if not rows:
        raise ValueError("no rows")
    return rows


credential_app = typer.Typer(
    help="Residents' PINs and access cards (sealed in the hub, sent to the gates).",
    no_args_is_help=True,
)


def pass_revoke_main(
    site: SiteOption,
    pass_id: Annotated[str, typer.Option("--pass-id", help="the visitor pass id to refuse")],
    reason: Annotated[str, typer.Option("--reason", help="why (kept with the revocation)")],
    operator: OperatorOption = "",
    db: DbOption = DEFAULT_DB,
) -> None:
    """Revoke a visitor QR pass: every gate of the site refuses it from the next bundle."""
    with FaceStore(db, None) as store:  # the revocation list is sealed when published
        try:
            version = store.revoke_pass(
                site=site, pass_id=pass_id, operator=operator or _default_operator(), reason=reason
            )
        except StoreError as exc:
            raise _fail(str(exc)) from None
    typer.echo(f"revoked pass {pass_id} at {site}: face bundle version {version} ({_SYNCED})")


credential_app.command("revoke-pass")(pass_revoke_main)
credential_app.command("set")(credential_set_main)
credential_app.command("remove")(credential_remove_main)
credential_app.command("list")(credential_list_main)
credential_app.command("import")(credential_import_main)

face_app = typer.Typer(
    add_completion=False, help="Face enrolment, erasure and identification.", no_args_is_help=True
)
face_app.command("enroll")(enroll_main)
face_app.command("delete")(delete_main)
face_app.command("identify")(identify_main)
face_app.add_typer(credential_app, name="credential")
