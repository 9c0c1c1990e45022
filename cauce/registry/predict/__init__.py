"""Predictions with registered models: the page, the API, background jobs and their retention."""
