"""Inference-time search over whole episodes (`rlsys eval --search best-of-n`)."""
