"""Scripted chat platform servers (Telegram, Slack, Discord, WhatsApp) speaking each
platform's real wire protocol on 127.0.0.1; the real SDKs point at them by base URL."""
