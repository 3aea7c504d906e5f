"""One person's data: what of it each table holds (plan.py), giving it to them (export.py) and erasing
it (erasure.py). Every table of the schema is declared in the plan, so a new table cannot be forgotten."""
