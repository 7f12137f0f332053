"""Block Kit limits, checked the way Slack checks them, so a message our bot builds that Slack
would refuse is refused here too, before production.

Slack rejects the whole message with `invalid_blocks` and lists every problem as
`"<reason> [json-pointer:/blocks/N/…]"`, also repeated under `response_metadata.messages` with an
`[ERROR] ` prefix. The wording "must be less than 3001 characters" / "2001 characters" is the one
real Slack responses carry; the wording for too many items and duplicate ids is ours.

Limits (https://docs.slack.dev/reference/block-kit/blocks and each block's and element's page):
50 blocks per message, 100 per modal or Home tab; section text 3000, fields 10 × 2000;
header 150; actions 25 elements; context 10 elements; button text 75, value 2000, url 3000;
any action_id or block_id 255 and unique within the message or view; view title, submit and
close 24; private_metadata 3000; callback_id 255; overflow 5 options, static_select 100,
option text 75 and value 150.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

MESSAGE_MAX_BLOCKS = 50
VIEW_MAX_BLOCKS = 100
SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10
SECTION_FIELD_TEXT_MAX = 2000
HEADER_TEXT_MAX = 150
ACTIONS_ELEMENTS_MAX = 25
CONTEXT_ELEMENTS_MAX = 10
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
URL_MAX = 3000
ID_MAX = 255
INPUT_LABEL_MAX = 2000
VIEW_TITLE_MAX = 24
PRIVATE_METADATA_MAX = 3000
OVERFLOW_OPTIONS_MAX = 5
SELECT_OPTIONS_MAX = 100
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150

_KNOWN_BLOCKS = {
    "actions",
    "context",
    "divider",
    "file",
    "header",
    "image",
    "input",
    "markdown",
    "rich_text",
    "section",
    "video",
}
_VIEW_ONLY_BLOCKS = {"input"}


@dataclass
class _Check:
    """Accumulates problems while walking a block list."""

    errors: list[str] = field(default_factory=list)
    action_ids: set[str] = field(default_factory=set)
    block_ids: set[str] = field(default_factory=set)

    def fail(self, reason: str, pointer: str) -> None:
        self.errors.append(f"{reason} [json-pointer:{pointer}]")

    def max_chars(self, value: object, limit: int, pointer: str) -> None:
        if isinstance(value, str) and len(value) > limit:
            self.fail(f"must be less than {limit + 1} characters", pointer)

    def text_object(self, value: object, limit: int, pointer: str, *, plain_only: bool) -> None:
        if not isinstance(value, dict):
            self.fail("must be an object", pointer)
            return
        kind = value.get("type")
        allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if kind not in allowed:
            self.fail(f"must be one of {', '.join(allowed)}", f"{pointer}/type")
        text = value.get("text")
        if not isinstance(text, str) or not text:
            self.fail("must be more than 0 characters", f"{pointer}/text")
            return
        self.max_chars(text, limit, f"{pointer}/text")

    def unique_id(self, seen: set[str], value: object, kind: str, pointer: str) -> None:
        if not isinstance(value, str):
            return
        self.max_chars(value, ID_MAX, pointer)
        if value in seen:
            self.fail(f"duplicate {kind} {value!r}", pointer)
        seen.add(value)


def message_block_errors(blocks: object) -> list[str]:
    """Problems Slack reports for `blocks` of chat.postMessage / chat.update / postEphemeral."""
    return _block_list_errors(blocks, limit=MESSAGE_MAX_BLOCKS, pointer="/blocks", in_view=False)


def view_errors(view: object) -> list[str]:
    """Problems Slack reports for a `view` of views.open / views.update / views.publish."""
    check = _Check()
    if not isinstance(view, dict):
        check.fail("must be an object", "/view")
        return check.errors
    kind = view.get("type")
    if kind not in ("modal", "home"):
        check.fail("must be one of modal, home", "/view/type")
    if kind == "modal" and "title" not in view:
        check.fail("missing required field: title", "/view/title")
    for name in ("title", "submit", "close"):
        if name in view:
            check.text_object(view[name], VIEW_TITLE_MAX, f"/view/{name}", plain_only=True)
    check.max_chars(view.get("private_metadata"), PRIVATE_METADATA_MAX, "/view/private_metadata")
    check.max_chars(view.get("callback_id"), ID_MAX, "/view/callback_id")
    check.errors.extend(
        _block_list_errors(
            view.get("blocks"), limit=VIEW_MAX_BLOCKS, pointer="/view/blocks", in_view=True
        )
    )
    return check.errors


def _block_list_errors(blocks: object, *, limit: int, pointer: str, in_view: bool) -> list[str]:
    check = _Check()
    if not isinstance(blocks, list):
        check.fail("must be an array", pointer)
        return check.errors
    if len(blocks) > limit:
        check.fail(f"must provide an array of no more than {limit} items", pointer)
    for index, block in enumerate(blocks):
        _check_block(check, block, f"{pointer}/{index}", in_view=in_view)
    return check.errors


def _check_block(check: _Check, block: object, at: str, *, in_view: bool) -> None:
    if not isinstance(block, dict):
        check.fail("must be an object", at)
        return
    kind = block.get("type")
    if kind not in _KNOWN_BLOCKS or (kind in _VIEW_ONLY_BLOCKS and not in_view):
        check.fail("failed to match all allowed schemas", at)
        return
    check.unique_id(check.block_ids, block.get("block_id"), "block_id", f"{at}/block_id")
    if kind == "section":
        _check_section(check, block, at)
    elif kind == "header":
        check.text_object(block.get("text"), HEADER_TEXT_MAX, f"{at}/text", plain_only=True)
    elif kind == "actions":
        elements = _elements(check, block, ACTIONS_ELEMENTS_MAX, at)
        for index, element in elements:
            _check_element(check, element, f"{at}/elements/{index}")
    elif kind == "context":
        for index, element in _elements(check, block, CONTEXT_ELEMENTS_MAX, at):
            if isinstance(element, dict) and element.get("type") in ("plain_text", "mrkdwn"):
                check.text_object(
                    element, SECTION_TEXT_MAX, f"{at}/elements/{index}", plain_only=False
                )
    elif kind == "input":
        check.text_object(block.get("label"), INPUT_LABEL_MAX, f"{at}/label", plain_only=True)
        if not isinstance(block.get("element"), dict):
            check.fail("missing required field: element", f"{at}/element")
        else:
            _check_element(check, block["element"], f"{at}/element")


def _check_section(check: _Check, block: dict[str, Any], at: str) -> None:
    if "text" not in block and "fields" not in block:
        check.fail("must provide text or fields", at)
    if "text" in block:
        check.text_object(block["text"], SECTION_TEXT_MAX, f"{at}/text", plain_only=False)
    fields = block.get("fields")
    if fields is not None:
        if not isinstance(fields, list):
            check.fail("must be an array", f"{at}/fields")
        else:
            if len(fields) > SECTION_FIELDS_MAX:
                check.fail(
                    f"must provide an array of no more than {SECTION_FIELDS_MAX} items",
                    f"{at}/fields",
                )
            for index, item in enumerate(fields):
                check.text_object(
                    item, SECTION_FIELD_TEXT_MAX, f"{at}/fields/{index}", plain_only=False
                )
    if isinstance(block.get("accessory"), dict):
        _check_element(check, block["accessory"], f"{at}/accessory")


def _elements(
    check: _Check, block: dict[str, Any], limit: int, at: str
) -> Iterator[tuple[int, object]]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        check.fail("must provide a non-empty array", f"{at}/elements")
        return
    if len(elements) > limit:
        check.fail(f"must provide an array of no more than {limit} items", f"{at}/elements")
    yield from enumerate(elements)


def _check_element(check: _Check, element: object, at: str) -> None:
    if not isinstance(element, dict):
        check.fail("must be an object", at)
        return
    check.unique_id(check.action_ids, element.get("action_id"), "action_id", f"{at}/action_id")
    if element.get("type") in ("overflow", "static_select"):
        options = element.get("options")
        limit = OVERFLOW_OPTIONS_MAX if element.get("type") == "overflow" else SELECT_OPTIONS_MAX
        if not isinstance(options, list) or not options:
            check.fail("must provide a non-empty array", f"{at}/options")
        else:
            if len(options) > limit:
                check.fail(f"must provide an array of no more than {limit} items", f"{at}/options")
            for index, option in enumerate(options):
                where = f"{at}/options/{index}"
                if not isinstance(option, dict):
                    check.fail("must be an object", where)
                    continue
                check.text_object(
                    option.get("text"), OPTION_TEXT_MAX, f"{where}/text", plain_only=True
                )
                check.max_chars(option.get("value"), OPTION_VALUE_MAX, f"{where}/value")
    if element.get("type") == "button":
        check.text_object(element.get("text"), BUTTON_TEXT_MAX, f"{at}/text", plain_only=True)
        check.max_chars(element.get("value"), BUTTON_VALUE_MAX, f"{at}/value")
        check.max_chars(element.get("url"), URL_MAX, f"{at}/url")
