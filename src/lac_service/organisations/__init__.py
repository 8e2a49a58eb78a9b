"""Organisations' territories, and the routing of each new home to the organisation whose territory holds
it (SPEC §3). A home in no territory goes to the default organisation, flagged."""
