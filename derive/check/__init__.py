"""Checking derivations: the symbolic normal form, the numeric evaluator, the checker and its findings."""
