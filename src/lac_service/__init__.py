"""LAC service: one shared waiting list (liste d'attente commune) for French primary care."""
