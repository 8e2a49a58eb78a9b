"""Messages to patients, practitioners and coordinators: written to an outbox in the same transaction as
the event that causes them, then sent once by a dispatcher (Twilio SMS, SMTP email, or kept locally)."""
