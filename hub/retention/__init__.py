"""Bounded retention on the hub: evidence snapshots, old events, rejects, lapsed face consents.

``plan`` holds the pure cut-off logic; ``job`` runs a purge against the store (periodically
in a running hub, or once from ``anju retention run``); ``cli`` is that command.
"""
