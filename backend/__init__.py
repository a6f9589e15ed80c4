"""The Nongbao backend: registry, ledger, benefits and certification behind a FastAPI service."""
