"""The web adapter (FastAPI) over the core services: REST API, webhooks, dashboard."""
