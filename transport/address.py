"""Where the broker is and how to log in: one URL grammar for edge, hub and simulators.

    mqtt://host:1883            plain TCP (``tcp://`` too)
    mqtts://host:8883           TLS (``ssl://`` too), the system CAs unless a CA file is given
    ...?protocol=5              MQTT 5 (default 3.1.1, which every broker here speaks)
    mqtt://user:pass@host:1883  credentials in the URL (kept out of logs; prefer the
                                environment or a file, see ``Credentials``)

Pure: parsing and reading a secret file are the only things here that touch the outside.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlparse

PLAIN_SCHEMES = ("mqtt", "tcp")
TLS_SCHEMES = ("mqtts", "ssl")


class AddressError(ValueError):
    """A broker URL, credential or TLS setting that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str | None = field(default=None, repr=False)  # never printed

    @classmethod
    def from_env(
        cls,
        prefix: str,
        *,
        default_username: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Credentials | None:
        """``{prefix}_USERNAME`` and ``{prefix}_PASSWORD`` (or ``{prefix}_PASSWORD_FILE``, a file
        holding it); None when neither a password nor a password file is set."""
        env = os.environ if env is None else env
        password = env.get(f"{prefix}_PASSWORD")
        password_file = env.get(f"{prefix}_PASSWORD_FILE")
        if password and password_file:
            raise AddressError(f"set {prefix}_PASSWORD or {prefix}_PASSWORD_FILE, not both")
        if password_file:
            password = read_secret(Path(password_file), f"{prefix}_PASSWORD_FILE")
        if not password:
            return None
        username = env.get(f"{prefix}_USERNAME") or default_username
        if not username:
            raise AddressError(f"{prefix}_PASSWORD is set but {prefix}_USERNAME is not")
        return cls(username, password)


def read_secret(path: Path, what: str) -> str:
    try:
        value = path.read_text().strip()
    except OSError as exc:
        raise AddressError(f"{what}: cannot read {path}: {exc.strerror}") from None
    if not value:
        raise AddressError(f"{what}: {path} is empty")
    return value


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """MQTT over TLS: the CA that signed the broker's certificate (None: the system CAs) and,
    for brokers that ask for one, this client's certificate and key."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise AddressError("a client certificate needs both --cert and --key")
        for what, path in (("CA file", self.ca_file), ("certificate", self.cert_file)):
            if path is not None and not Path(path).is_file():
                raise AddressError(f"TLS {what} {path} does not exist")
        if self.key_file is not None and not Path(self.key_file).is_file():
            raise AddressError(f"TLS key {self.key_file} does not exist")


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    mqtt5: bool = False
    credentials: Credentials | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parsed = urlparse(url if "://" in url else f"mqtt://{url}")
        scheme = parsed.scheme.lower()
        if scheme not in PLAIN_SCHEMES + TLS_SCHEMES:
            raise AddressError(f"broker url {redact(url)!r}: scheme must be mqtt:// or mqtts://")
        if not parsed.hostname:
            raise AddressError(f"broker url {redact(url)!r} has no host")
        protocol = parse_qs(parsed.query).get("protocol", ["3.1.1"])[-1]
        if protocol not in ("3.1.1", "5"):
            raise AddressError(f"broker url {redact(url)!r}: protocol must be 3.1.1 or 5")
        tls = scheme in TLS_SCHEMES
        try:
            port = parsed.port or (8883 if tls else 1883)
        except ValueError:
            raise AddressError(f"broker url {redact(url)!r}: bad port") from None
        credentials = None
        if parsed.username:
            password = unquote(parsed.password) if parsed.password is not None else None
            credentials = Credentials(unquote(parsed.username), password)
        return cls(parsed.hostname, port, tls, protocol == "5", credentials)

    def with_credentials(self, credentials: Credentials | None) -> BrokerAddress:
        """These credentials instead of the URL's (None keeps the URL's)."""
        if credentials is None:
            return self
        return BrokerAddress(self.host, self.port, self.tls, self.mqtt5, credentials)

    def __str__(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        # percent-encoded like in a URL: a username carrying its site (edge-north@lakeside)
        user = f"{quote(self.credentials.username, safe='')}@" if self.credentials else ""
        query = "?protocol=5" if self.mqtt5 else ""
        return f"{scheme}://{user}{self.host}:{self.port}{query}"


def redact(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    return url.replace(f":{parsed.password}@", ":***@", 1)
