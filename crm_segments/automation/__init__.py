"""Automatic communication: workflows, the message outbox and its dispatcher, channels, delivery events."""
