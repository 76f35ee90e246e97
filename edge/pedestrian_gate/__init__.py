"""Pedestrian gates: face (detect, liveness, match), QR pass, PIN or card; door alarms; the
site's sealed face bundle kept on disk."""
