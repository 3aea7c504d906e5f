"""Segments: the rule language and its SQL compiler, membership, refresh and the shipped segments.

The rule language: rules.py (document -> typed rule, ``parse_rule``), fields.py (the whitelist),
operators.py (operators per type and their SQL), rule_metadata.py (what the rule builder offers),
compiler.py (``compile_rule`` / ``compile_record_rule``; tests/segments/reference.py is the
plain-Python evaluator the tests compare the SQL with), explain.py / describe.py (why a profile
matches; a rule in words), cycles.py (membership loops), rfm.py (RFM scores). The format is
documented in docs/rules.md.
"""
