"""Volunteering practices: where they are, how far their patients may live, how many people per batch
and how often, how they want to hear of a batch, and whether they are taking anyone right now."""
