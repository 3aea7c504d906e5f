"""The home dashboard's panels: each one a few bounded SQL queries (aggregates or a short page).

Quotes awaiting an answer with their follow-up state, profiles that entered segments today, messages
per day, segments with their size trend, channels that fail or are paused, and the RFM grid. For a
sales person, rows about their own customers (profile owner = the signed-in user) come first.
"""
