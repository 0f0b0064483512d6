"""The pytest plugin registered under ``pytest11``: paygate's fixtures."""
