"""What comes back from Twilio: patients' SMS replies (``OUI``, ``RETRAIT``) and delivery reports."""
