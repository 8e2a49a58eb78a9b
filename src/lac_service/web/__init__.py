"""The screens: server-rendered French pages over the same services as the API.

Public pages (the request form, a patient's tracking page, a practitioner's offer and standing pages) work
by link alone; staff pages (secretaries, coordinators) need a login. Every form carries a CSRF token; no
page has inline script or style, and nothing is loaded from outside the service.
"""
