"""The web adapter: REST API (FastAPI) over the core services; dashboard and webhooks later."""
