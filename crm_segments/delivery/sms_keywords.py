"""The SMS keywords carriers and Twilio act on (CTIA; Twilio's default opt-out handling), each the
whole message in any case. YES is not an opt-in: "yes" answers questions."""

from __future__ import annotations

STOP_WORDS = ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE")
START_WORDS = ("START", "UNSTOP")
HELP_WORDS = ("HELP", "INFO")
