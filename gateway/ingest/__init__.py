"""The ingest path: one module per pipeline stage (decoding, signatures, chain, receipt validation), the
fiscal signer, the journal and the pipeline that runs them in order."""
