"""The sidecar's runtime: the ASGI app (webhooks, health, metrics) and the scheduler."""
