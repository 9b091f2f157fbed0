"""Tests of the ingest pipeline stages."""
