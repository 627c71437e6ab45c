"""Tests of the k8sclaw-channel program: adapters against scripted platform servers."""
