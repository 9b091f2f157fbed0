"""`tracegate bench`: drive the gateway and two baselines (ceiling, naive) with the same pre-signed load."""
