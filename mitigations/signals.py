"""Signals of the catalogue for the apps that build on it."""

from django.dispatch import Signal

# Sent (after commit) with `pks`: pages whose fields an import changed in bulk, without
# the per-row model signals (feedback/outdated.py marks feedback on them "page changed").
pages_changed = Signal()
