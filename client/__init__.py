"""What the apps share with no server code: the clock today, the typed HTTP client next."""
