"""Offers: the batch a cabinet receives after a round, behind a signed, unguessable, expiring link. Per
patient: pending, then accepted (the request is matched), declined (with a coded reason, if given) or expired (back to
the queue, offered to other cabinets first: a decline is final, a deadline let pass is not)."""
