"""Seedream image generation: an API client, input checks, and (later) the blueprint."""
