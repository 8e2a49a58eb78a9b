"""Where patients and practices are, and which CPTS a home belongs to, with no network by default.

Matching can only be as fair as the locations it works on: a wrong commune sends a patient's file to a
practice too far away, or hides it from the one next door. Everything here is pure and offline — the shipped
GeoNames gazetteer (``gazetteer``), the one distance used for radii (``distance``) and the organisations'
territories (``territories``) — so it is tested without a database and answers the same on every machine.
The online address base, when enabled, is only a more precise first try in front of the gazetteer.
"""
