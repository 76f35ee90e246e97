"""Car-park pixels: slot polygon geometry and camera slot occupancy (classical OpenCV)."""
