"""Developer entry points (``python -m scripts.run``)."""
