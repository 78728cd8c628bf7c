"""The receiving side: the idempotent batch consumer (`consumer`) and what it is made of:
records (`records`, `intake`), the inbox (`inbox`), per-partition progress (`partitions`),
failure handling (`failures`, `retries`, `backoff`), group membership (`group`), lag (`lag`)."""
