"""Scripted chat platforms: local servers that speak each platform's real wire protocol."""
