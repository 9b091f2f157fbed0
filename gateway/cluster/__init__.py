"""Loops that keep the gateways of a cluster consistent through ClickHouse: code moves, double acceptances."""
