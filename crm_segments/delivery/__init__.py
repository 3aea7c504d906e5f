"""After a send: provider delivery events, unsubscribe links and replies, opt-out wording
and SMS keywords."""
