"""What the page modules share: deferred routes, profile-page sections, paging, sorting, charts, forms."""
