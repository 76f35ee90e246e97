"""The hub: ingestion, durable storage, violation rules, gate commands and sync lists to the
edges (``service``, assembled with its services by ``app``); the console, supervision records
and the credit rating, retention; feature slices ``vehicle_gate``, ``pedestrian_gate``,
``car_park``."""
