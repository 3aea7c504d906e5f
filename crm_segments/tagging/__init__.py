"""Tagging: tag names, manual and bulk tagging with audit and undo, auto-tag rules, tag management.

Every function here is a service ``(*, session, ...)``: it never commits; the caller owns the
transaction. Changes over many entities are set-based SQL statements, never loops over rows.
"""
