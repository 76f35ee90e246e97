"""``anju broker-config``: mosquitto configuration, password file, ACL and certificates
generated from the site configs (policy.py is the pure part, pki.py the certificates,
files.py writes a layout to disk)."""
