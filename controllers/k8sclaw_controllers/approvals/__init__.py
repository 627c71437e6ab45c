"""Approvals in chat: cards in the source thread, presses turned into decisions."""

from k8sclaw_controllers.approvals._relay import ApprovalRelay, source_of

__all__ = ["ApprovalRelay", "source_of"]
