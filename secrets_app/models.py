"""Secrets arrive with the encrypted-secrets issue; the app is wired in now."""
