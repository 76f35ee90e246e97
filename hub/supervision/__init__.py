"""Supervision records and the half-year credit rating of property-management companies.

Pure core (no I/O):
- ``periods``: half-year periods (``2026H2``) in the county's time zone.
- ``standard``: the scoring standard, versioned YAML under ``config/scoring/``.
- ``scoring``: scoring, ranking and levels; every point traceable to records and events.
- ``workflow``: state machine for violations, complaints and rectification orders.

Around it:
- ``domain``: validated inputs and ``Principal`` (who acts); ``labels``: 中文/English.
- ``repo``: persistence in the hub's SQLite database (``sv_*`` tables), audited.
- ``rating``: records -> scores -> ranking, with the previous half year.
- ``report`` / ``pdf``: the publishable disclosure (HTML, PDF, CSV).
- ``api``: FastAPI router; ``cli``: ``anju report`` and friends; ``demo``: demo records.

See README.md beside this file.
"""
