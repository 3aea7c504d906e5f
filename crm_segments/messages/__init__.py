"""Messages: the outbox, claiming due messages, gates and caps, sending through the
channels, outcomes and retries, the message log and the send worker."""
