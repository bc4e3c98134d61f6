"""``httpx.Auth`` classes, one per signing scheme; they add credentials to each attempt of a request."""
