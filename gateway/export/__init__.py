"""Audit export: the file format (format.py), the offline verifier (verify.py) and what it checks.

Nothing here imports the gateway's storage or HTTP stack: the verifier needs only the standard library,
`cryptography` and the generated protobuf code, so anyone can run it on an export alone (docs/export.md).
"""
