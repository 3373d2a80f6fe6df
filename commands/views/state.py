"""Reading a submitted modal, and turning domain errors into Slack's inline form errors."""

from __future__ import annotations

from typing import Any

from bot import errors
from commands import ids


def _element(view: dict[str, Any], block_id: str) -> dict[str, Any] | None:
    values = (view.get("state") or {}).get("values") or {}
    block = values.get(block_id) or {}
    element = block.get(ids.INPUT)
    return element if isinstance(element, dict) else None


def text(view: dict[str, Any], block_id: str) -> str:
    """A text, number or select input's value; empty when left blank or absent."""
    element = _element(view, block_id)
    if element is None:
        return ""
    kind = element.get("type")
    if kind == "static_select":
        option = element.get("selected_option") or {}
        return str(option.get("value") or "")
    if kind == "conversations_select":
        return str(element.get("selected_conversation") or "")
    return str(element.get("value") or "")


def ticked(view: dict[str, Any], block_id: str) -> bool:
    """Whether a one-option checkbox input is ticked."""
    element = _element(view, block_id)
    return bool(element and element.get("selected_options"))


def chosen(view: dict[str, Any], block_id: str) -> set[str]:
    """The values of the ticked options of a checkboxes input (none when absent)."""
    element = _element(view, block_id) or {}
    return {str(o.get("value")) for o in element.get("selected_options") or []}


def inline_errors(exc: errors.DomainError, default_block: str) -> dict[str, str]:
    """``response_action: errors`` wants messages keyed by input block; a problem with no
    field of its own (room limit, no server) is shown on ``default_block``."""
    problems = exc.problems if isinstance(exc, errors.ValidationFailed) else [exc]
    shown: dict[str, str] = {}
    for problem in problems:
        block = ids.FIELD_BLOCKS.get(problem.field or "", default_block)
        shown[block] = f"{shown[block]} {problem.message}" if block in shown else problem.message
    return shown
