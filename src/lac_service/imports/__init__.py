"""Existing waiting lists and cabinet lists, imported from the CSV files spreadsheets export."""
