"""Outputs for people and programs: terminal text, JSON, the TeX report and its build, measurements, files."""
