"""Security: device keys, audit log, rate limits, TLS, buyer personal data, AI labels."""
