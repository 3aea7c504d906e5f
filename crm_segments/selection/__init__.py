"""Which profiles or records an operation applies to (explicit ids, a filtered list, a segment or the
rows of a CSV file), as a SELECT of ids that bulk tagging and static lists alike use as a subquery."""
