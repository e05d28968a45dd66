"""The ground floor: helpers shared by the apps.

Nothing here imports an app module (checked by tests/test_layout.py); see docs/architecture.md.
"""
