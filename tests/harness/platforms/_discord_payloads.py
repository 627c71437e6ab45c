"""Discord API v10 object shapes the scripted Discord server sends (users, guild, messages,
interactions), filled with the fields discord.py 2.x reads.

Ids are snowflake strings as on the wire. One guild holds one text channel and one public
thread under it; a DM channel exists outside the guild.
"""

from __future__ import annotations

from typing import Any

GUILD_ID = "1000000000000000001"
CHANNEL_ID = "1000000000000000002"
THREAD_ID = "1000000000000000003"
DM_CHANNEL_ID = "1000000000000000004"
APPLICATION_ID = "1000000000000000010"
BOT_ID = "1000000000000000011"
USER_ID = "1000000000000000020"
OTHER_BOT_ID = "1000000000000000021"
TIMESTAMP = "2026-01-01T00:00:00.000000+00:00"


def user(user_id: str, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": user_id,
        "username": name,
        "global_name": name,
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
    }


BOT_USER = user(BOT_ID, "k8sclaw-bot", bot=True)
HUMAN = user(USER_ID, "alice")
OTHER_BOT = user(OTHER_BOT_ID, "other-bot", bot=True)


def application() -> dict[str, Any]:
    """`GET /oauth2/applications/@me`, which discord.py's login reads."""
    return {
        "id": APPLICATION_ID,
        "name": "k8sclaw",
        "icon": None,
        "description": "",
        "bot_public": False,
        "bot_require_code_grant": False,
        "owner": HUMAN,
        "verify_key": "0" * 64,
        "flags": 0,
    }


def _text_channel() -> dict[str, Any]:
    return {
        "id": CHANNEL_ID,
        "type": 0,
        "guild_id": GUILD_ID,
        "name": "general",
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
    }


def _thread() -> dict[str, Any]:
    return {
        "id": THREAD_ID,
        "type": 11,
        "guild_id": GUILD_ID,
        "parent_id": CHANNEL_ID,
        "owner_id": USER_ID,
        "name": "a question",
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "message_count": 0,
        "member_count": 1,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 1440,
            "archive_timestamp": TIMESTAMP,
            "locked": False,
        },
    }


def guild() -> dict[str, Any]:
    """GUILD_CREATE after READY: the guild, its channel and its active thread."""
    return {
        "id": GUILD_ID,
        "name": "test guild",
        "icon": None,
        "owner_id": USER_ID,
        "unavailable": False,
        "member_count": 2,
        "large": False,
        "features": [],
        "roles": [
            {
                "id": GUILD_ID,
                "name": "@everyone",
                "color": 0,
                "hoist": False,
                "position": 0,
                "permissions": "1024",
                "managed": False,
                "mentionable": False,
                "flags": 0,
            }
        ],
        "emojis": [],
        "stickers": [],
        "members": [],
        "channels": [_text_channel()],
        "threads": [_thread()],
        "joined_at": TIMESTAMP,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "premium_tier": 0,
        "nsfw_level": 0,
        "preferred_locale": "en-US",
    }


def message(
    message_id: str, channel_id: str, author: dict[str, Any], content: str, *, guild: bool
) -> dict[str, Any]:
    """A MESSAGE_CREATE body (and the answer to `POST /channels/{id}/messages`)."""
    data: dict[str, Any] = {
        "id": message_id,
        "channel_id": channel_id,
        "author": author,
        "content": content,
        "timestamp": TIMESTAMP,
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
    }
    if guild:
        data["guild_id"] = GUILD_ID
        data["member"] = {
            "roles": [],
            "joined_at": TIMESTAMP,
            "deaf": False,
            "mute": False,
            "flags": 0,
        }
    return data


def interaction(
    interaction_id: str, custom_id: str, *, message_id: str, channel_id: str, clicker: str
) -> dict[str, Any]:
    """INTERACTION_CREATE for a button press (type 3, component type 2) in the guild."""
    channel = _thread() if channel_id == THREAD_ID else _text_channel()
    card = message(message_id, channel_id, BOT_USER, "approval card", guild=True)
    return {
        "id": interaction_id,
        "application_id": APPLICATION_ID,
        "type": 3,
        "token": "tok-" + interaction_id,
        "version": 1,
        "guild_id": GUILD_ID,
        "channel_id": channel_id,
        "channel": channel,
        "member": {
            "user": user(clicker, "clicker"),
            "roles": [],
            "joined_at": TIMESTAMP,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "permissions": "1024",
        },
        "message": card,
        "data": {"custom_id": custom_id, "component_type": 2},
        "app_permissions": "1024",
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {},
        "context": 0,
        "attachment_size_limit": 8388608,
    }
