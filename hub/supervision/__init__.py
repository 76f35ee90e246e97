"""Supervision records and the half-year credit rating of property-management companies.

- ``periods``: half-year periods (``2026H2``) in the county's time zone.
- ``standard``: the scoring standard, versioned YAML under ``config/scoring/``.
- ``scoring``: pure scoring, ranking and levels; every point traceable to records.
- ``workflow``: pure state machine for violations, complaints and rectification orders.
- ``repo``: persistence in the hub's SQLite database (``sv_*`` tables), audited.
- ``report``: the publishable disclosure (HTML, PDF, CSV); ``api``: REST; ``cli``: commands.
"""
