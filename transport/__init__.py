"""The MQTT transport every part of Anju uses: one broker-URL grammar (``BrokerAddress``),
credentials from the environment or a file, TLS settings, and one asyncio-driven client
(``MqttClient``) with persistent sessions, manual acks, a Last Will and back-off reconnect."""

from transport.address import (
    AddressError,
    BrokerAddress,
    Credentials,
    TlsSettings,
    read_secret,
    redact,
)
from transport.client import MqttClient, PublishError, Received, Will

__all__ = [
    "AddressError",
    "BrokerAddress",
    "Credentials",
    "MqttClient",
    "PublishError",
    "Received",
    "TlsSettings",
    "Will",
    "read_secret",
    "redact",
]
