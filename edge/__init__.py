"""The edge agent of one gate cluster: decides locally, drives the barriers and doors, and
publishes every step to the hub through an on-disk outbox. Feature slices: ``vehicle_gate``,
``pedestrian_gate``, ``car_park``; hardware behind ``interfaces`` (real ``drivers``)."""
