"""Accounts: who may sign in, with which password, and for how long a sign-in lasts."""
