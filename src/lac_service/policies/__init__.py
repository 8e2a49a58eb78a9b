"""Each organisation's priority policy per kind, stored as immutable versions: a coordinator replaces the
policy without a deploy, every score names the version that produced it, and old versions stay readable.
Version 0 is the built-in default (``priority.default_policy``) and is never stored."""
