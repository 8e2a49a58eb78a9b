"""Patients' requests: registration, validation, duplicates, the status lifecycle and erasure."""
