"""A vehicle gate's plate_region: fractions of the frame, checked, turned into pixels."""

from pathlib import Path

import pytest
import yaml

from models.site import EXAMPLE_SITE, ConfigError, load_site_config


def _site_with_region(tmp_path: Path, region: object) -> Path:
    data = yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))
    data["gates"][0]["plate_region"] = region
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_region_in_pixels(tmp_path: Path) -> None:
    site = load_site_config(_site_with_region(tmp_path, [0.1, 0.25, 0.8, 0.75]))
    gate = site.gates[0]
    assert gate.plate_region_px(1280, 720) == (128, 180, 1152, 720)
    assert site.gates[1].plate_region is None
    assert site.gates[1].plate_region_px(1280, 720) == (0, 0, 1280, 720)


@pytest.mark.parametrize("region", [[0.5, 0.5, 0.6, 0.2], [0, 0, 0, 1], [-0.1, 0, 1, 1], [1, 2]])
def test_region_outside_the_frame_is_refused_naming_the_key(tmp_path: Path, region) -> None:
    path = _site_with_region(tmp_path, region)
    with pytest.raises(ConfigError) as err:
        load_site_config(path)
    assert "plate_region" in str(err.value) and str(path) in str(err.value)
