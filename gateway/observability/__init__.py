"""Observability: Prometheus metrics and structured JSON logs with request ids."""
