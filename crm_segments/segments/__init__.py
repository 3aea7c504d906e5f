"""Segments: the rule language and its SQL compiler, membership, refresh and the shipped segments.

The rule language: rules.py (document -> typed rule, ``parse_rule``), fields.py (the whitelist and
``rule_metadata`` for the rule builder), operators.py (operators per type and their SQL),
compiler.py (``compile_rule`` / ``compile_record_rule``; tests/segments/reference.py is the
plain-Python evaluator the tests compare the SQL with), explain.py / describe.py (why a profile
matches; a rule in words), cycles.py (membership loops), rfm.py (RFM scores). The format is
documented in docs/rules.md.
"""
