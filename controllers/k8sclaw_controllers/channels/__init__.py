"""`k8sclaw-channel <type>`: one program that connects one ClawInstance to one chat
platform (Telegram, Slack, Discord, WhatsApp) through the event bus (SPEC §9)."""
