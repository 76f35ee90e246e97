"""Recognition that edge and hub share: licence plates (``lpr``) and faces (``face``).

No MQTT, no database: pixels in, typed results out. The edge runs it at the gates; the hub
runs the face part to check and encode enrolment photos.
"""
