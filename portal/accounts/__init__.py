"""Accounts: the signed-in user's page, sign-in log, account management commands."""
