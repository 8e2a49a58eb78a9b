"""Organisations (CPTS, regional platform), their users and API keys, and who may do what.

Tenancy rule: staff and partners see and change only their own organisation's records; a foreign id
answers 404, so that ids of other organisations are not even confirmed to exist. Platform admins see all.
"""
