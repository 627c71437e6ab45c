"""Scripted chat platform servers speaking each platform's real wire protocol."""
