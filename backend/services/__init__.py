"""Services: the business rules, between the thin API routers and the ledger and models."""
