"""The floor every domain stands on: errors, keyset paging, SQL helpers, id arrays and the
"profiles changed" signal. Nothing here imports a domain package."""
