"""Face enrolment on the hub: encrypted store, consent, erasure, quality checks, CLI."""
