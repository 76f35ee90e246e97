"""The ``anju`` command (``main``) and its subcommands, and ``demo``: a whole simulated
community on one machine."""
