"""The ``qa-service`` command: the top layer, the only one that may import all the others.

Imports run one way, ``index -> qa_service -> evals -> cli`` (tests/test_architecture.py):
the commands build the service from settings and wire in the evals, and
terminal display (progress bars, tables) lives here. ``main.app`` is the
console script; ``python -m cli`` runs the same app.
"""
