"""The shared contracts: MQTT messages and topics, the site configuration, the plate grammar,
the face-bundle and QR-pass formats. Pure: no I/O beyond reading a config file or a key."""
