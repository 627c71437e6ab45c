"""Scripted chat platform servers: each speaks one platform's real wire protocol on
127.0.0.1 so the adapters and their SDKs run unchanged against it."""
