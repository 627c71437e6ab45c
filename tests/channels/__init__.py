"""Tests of the channel program's platform adapters against scripted platform servers."""
