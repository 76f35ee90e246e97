"""Site config: the example loads; errors name the file, the key path and the reason."""

from pathlib import Path

import pytest
import yaml

from models.site import EXAMPLE_SITE, ConfigError, GateType, load_site_config


def _write(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_example_site_is_valid_and_complete() -> None:
    site = load_site_config()
    types = [g.type for g in site.gates]
    assert types.count(GateType.VEHICLE) == 2 and types.count(GateType.PEDESTRIAN) == 1
    assert site.car_park is not None
    zones = {z.kind for z in site.car_park.zones}
    assert {"reserved", "fire_lane"} <= zones
    parking = [s for s in site.car_park.slots if s.zone in ("general", "reserved", "visitor")]
    assert len(parking) >= 20
    assert site.vehicles.residents and site.vehicles.blacklist and site.vehicles.visitor_passes


@pytest.mark.parametrize(
    ("mutate", "key_path", "reason"),
    [
        (lambda d: d["site"].update(colour="red"), "site.colour", "unknown key"),
        (lambda d: d["gates"][0].update(open_seconds=-1), "gates.0.open_seconds", "greater than 0"),
        (
            lambda d: d["gates"][0].update(type="helicopter"),
            "gates.0.type",
            "'vehicle' or 'pedestrian'",
        ),
        (
            lambda d: d["vehicles"]["residents"][0].update(plate="XX123"),
            "vehicles.residents.0.plate",
            "not a plate",
        ),
        (
            lambda d: d["edges"][0].update(gates=["nowhere"]),
            "(top level)",
            "unknown gate 'nowhere'",
        ),
        (
            lambda d: d["car_park"]["slots"][0].update(zone="moon"),
            "car_park",
            "unknown zone 'moon'",
        ),
        (
            lambda d: d["site"].update(home_province="X"),
            "site.home_province",
            "not one of the 31 province characters",
        ),
        (
            lambda d: d["site"].update(home_province="浙江"),
            "site.home_province",
            "not one of the 31 province characters",
        ),
        (
            lambda d: d["edges"][0]["credentials"].update(password_file="/x"),
            "edges.0.credentials",
            "exactly one of",
        ),
        (
            lambda d: d["vehicles"]["visitor_passes"][0].update(
                valid_until="2020-01-01T00:00:00+08:00"
            ),
            "vehicles.visitor_passes.0",
            "after valid_from",
        ),
    ],
)
def test_errors_name_file_key_and_reason(
    tmp_path: Path, mutate, key_path: str, reason: str
) -> None:
    path = _write(tmp_path, mutate)
    with pytest.raises(ConfigError) as err:
        load_site_config(path)
    text = str(err.value)
    assert str(path) in text
    assert key_path in text
    assert reason in text


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_site_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("site: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_site_config(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_site_config(empty)
