"""Goods-marking codes: the exact, fast GS1 validator used on ingest and by `tracegate codes`."""

from gateway.codes.parser import CodeResult, validate_code

__all__ = ["CodeResult", "validate_code"]
