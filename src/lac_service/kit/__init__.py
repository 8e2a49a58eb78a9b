"""Small domain-free helpers: clock, phone numbers, tokens, text normalisation, pagination."""
