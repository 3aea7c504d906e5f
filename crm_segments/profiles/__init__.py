"""Profiles, the people the CRM knows: their lists (filters and keyset pages), what a profile's page
shows, and their consent to be contacted with its history."""
