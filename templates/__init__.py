"""The templates derive renders (Jinja2); installed as the package ``derive.templates``.

This file makes the directory a package, so ``importlib.resources`` finds the
templates the same way in a checkout, an editable install and a wheel.
"""
