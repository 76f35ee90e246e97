"""One broker-URL grammar for edge, hub and tools; credentials from the URL, the environment
or a file; TLS settings that say what is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from transport import AddressError, BrokerAddress, Credentials, TlsSettings, redact


def test_schemes_ports_and_protocol() -> None:
    assert BrokerAddress.parse("mqtt://127.0.0.1:1999") == BrokerAddress("127.0.0.1", 1999, False)
    assert BrokerAddress.parse("tcp://broker") == BrokerAddress("broker", 1883, False)
    assert BrokerAddress.parse("mqtts://hub.example") == BrokerAddress("hub.example", 8883, True)
    assert BrokerAddress.parse("ssl://hub.example:8884").tls
    assert BrokerAddress.parse("localhost") == BrokerAddress("localhost", 1883, False)
    assert BrokerAddress.parse("mqtt://h:1?protocol=5").mqtt5
    assert not BrokerAddress.parse("mqtt://h:1?protocol=3.1.1").mqtt5


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("mqtt://h:1?protocol=4", "protocol"),
        ("http://x:1", "scheme"),
        ("mqtt://:1883", "no host"),
        ("mqtt://h:99999", "bad port"),
    ],
)
def test_bad_urls_say_why(url: str, reason: str) -> None:
    with pytest.raises(AddressError, match=reason):
        BrokerAddress.parse(url)


def test_credentials_in_the_url_are_kept_and_never_printed() -> None:
    address = BrokerAddress.parse("mqtts://anju-hub:s%40cret@hub.example:8883")
    assert address.credentials == Credentials("anju-hub", "s@cret")
    assert "s@cret" not in str(address) and "s@cret" not in repr(address)
    assert redact("mqtt://u:pw@h:1") == "mqtt://u:***@h:1"
    with pytest.raises(AddressError) as error:
        BrokerAddress.parse("http://u:pw@h:1")
    assert "pw" not in str(error.value)


def test_given_credentials_replace_the_urls() -> None:
    address = BrokerAddress.parse("mqtt://u:pw@h:1")
    assert address.with_credentials(None).credentials == Credentials("u", "pw")
    assert address.with_credentials(Credentials("v", "x")).credentials == Credentials("v", "x")


def test_credentials_from_the_environment_or_a_file(tmp_path: Path) -> None:
    assert Credentials.from_env("ANJU_HUB", env={}) is None
    env = {"ANJU_HUB_PASSWORD": "pw"}
    assert Credentials.from_env("ANJU_HUB", default_username="anju-hub", env=env) == Credentials(
        "anju-hub", "pw"
    )
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    env = {"ANJU_HUB_USERNAME": "hub-2", "ANJU_HUB_PASSWORD_FILE": str(secret)}
    assert Credentials.from_env("ANJU_HUB", env=env) == Credentials("hub-2", "from-file")
    with pytest.raises(AddressError, match="USERNAME"):
        Credentials.from_env("ANJU_HUB", env={"ANJU_HUB_PASSWORD": "pw"})
    with pytest.raises(AddressError, match="not both"):
        Credentials.from_env(
            "ANJU_HUB", env={"ANJU_HUB_PASSWORD": "pw", "ANJU_HUB_PASSWORD_FILE": str(secret)}
        )
    with pytest.raises(AddressError, match="cannot read"):
        Credentials.from_env("X", env={"X_PASSWORD_FILE": str(tmp_path / "missing")})


def test_tls_settings_name_what_is_missing(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("-")
    assert TlsSettings(ca_file=ca).ca_file == ca
    with pytest.raises(AddressError, match="both --cert and --key"):
        TlsSettings(cert_file=ca)
    with pytest.raises(AddressError, match="does not exist"):
        TlsSettings(ca_file=tmp_path / "nope.crt")


def test_a_username_with_its_site_prints_unambiguously_and_parses_back() -> None:
    address = BrokerAddress.parse("mqtts://broker:8883").with_credentials(
        Credentials("edge-north@lakeside", "pw")
    )
    assert str(address) == "mqtts://edge-north%40lakeside@broker:8883"
    again = BrokerAddress.parse(str(address))
    assert again.credentials is not None
    assert again.credentials.username == "edge-north@lakeside"
