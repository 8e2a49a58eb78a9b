"""What comes back from Twilio: patients' SMS replies (``OUI``, ``STOP``) and delivery reports."""
