"""Virtual hardware and scenarios: cameras that render cars with Chinese plates and people
with real faces, loops, relays, door contacts, slot sensors. They depend only on the contracts,
recognition and the edge's hardware interfaces."""
