"""paygate's benchmark suite: ``python -m bench`` (or ``tox -e bench``).

Every figure is a ratio or a difference taken side by side in one run; see
docs/performance.md for what each one means and the last full run.
"""
