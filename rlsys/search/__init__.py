"""Inference-time search over episodes: strategies by name (`strategies.py`: single, best-of-n,
beam), gold-free scorers (`scorers.py`), beam search over turns (`beam.py`), serving (`serving.py`)."""
