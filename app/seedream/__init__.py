"""Seedream image generation on the master: blueprint, service, API client, input checks."""
