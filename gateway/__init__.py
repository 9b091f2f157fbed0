"""tracegate: a cash-register transaction traceability gateway."""

__version__ = "0.1.0"
