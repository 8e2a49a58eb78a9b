"""Matching rounds: waiting requests, in priority order, offered in batches to the cabinets that are due,
within distance, capacity and cadence. ``engine`` is pure and fast; ``service`` loads, locks, runs and
persists an auditable round."""
