"""Simulated registers that speak the OFD 2.0.2/2.0.3 protocol (gateway/ofd is the other end)."""
