"""Receivers: named destinations, each a list of Apprise URLs and/or a Python hook.

In a ruleset::

    receivers:
      ops-mail:
        description: The operations team's mailbox.
        urls:
          - "mailto://alerts:${SMTP_PASSWORD}@mail.example.com?to=ops@example.com"
          - url_file: /run/secrets/wecom-url      # the whole URL, read from a file
        template: short                           # a name from templates: (default: default)
        active: business-hours                    # a calendar name, or an inline calendar
        repeat: 30m                               # re-notify interval for the stateful run
        send_resolved: true                       # also say when an escalation it heard of closes
        concurrency: 2                            # sends in flight at once (default: delivery.concurrency)
      ticket-system:
        hook: write-back                          # a Python callable registered in code

Secrets never sit in the ruleset: ``${NAME}`` is replaced by the environment variable
``NAME`` when a notification is sent (``$${`` writes a literal ``${``), and ``url_file``
reads the URL from a file; an entry with both ``url`` and ``url_file`` is an error.
Values are inserted as written, so URL-encode special characters in them.  Every value
read is registered with :mod:`spm_rules.alerting.redaction` at once, and a URL is only
ever shown masked (a dumped ruleset shows ``${NAME}``, never the value).

Hooks are for library users: an in-process callable (plain or ``async``) registered by
name with :func:`register_hook`, called with the rendered :class:`AlertMessage`.  It
succeeds unless it returns ``False`` or raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Awaitable, Callable, Mapping, Union
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, PlainSerializer, field_validator, model_validator

from ..clock.calendar import CalendarSpec
from ..errors import DeliveryError
from ..notifications import Notification
from ..ruleset.types import NAME_PATTERN, Duration, StrictModel, shorthand_schema
from .redaction import mask_url, register_secret

__all__ = [
    "UrlEntry",
    "ReceiverSpec",
    "AlertMessage",
    "Hook",
    "ReceiverError",
    "register_hook",
    "unregister_hook",
    "registered_hooks",
    "resolve_url",
    "references",
]

_REFERENCE = re.compile(r"\$\$|\$\{([^}]*)\}|\$\{")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_TOKEN_LIKE = re.compile(r"(?=.*[A-Za-z])(?=.*[0-9])\S{8,}")


class ReceiverError(DeliveryError):
    """A receiver cannot be used: a missing variable or file, an unknown hook.  Names the
    receiver and URL index, never a secret."""


def references(template: str) -> list[str]:
    """The variable names a URL template refers to; ValueError on a malformed reference."""
    names = []
    for found in _REFERENCE.finditer(template):
        if found.group(0) == "$$":
            continue
        name = found.group(1)
        if name is None or not _VARIABLE.fullmatch(name):
            raise ValueError("bad ${...} reference: write ${NAME} with letters, digits and _ (or $${ for a literal ${)")
        names.append(name)
    return names


class UrlEntry(StrictModel):
    """One Apprise URL of a receiver: written out (``${VAR}`` references allowed) or read
    from ``url_file``.  A plain string in YAML is the ``url`` form."""

    model_config = ConfigDict(json_schema_extra=shorthand_schema({"type": "string"}))

    url: Annotated[str | None, PlainSerializer(lambda v: mask_url(v) if v else v)] = None
    url_file: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, raw: Any) -> Any:
        return {"url": raw} if isinstance(raw, str) else raw

    @field_validator("url")
    @classmethod
    def _url_shape(cls, value: str | None) -> str | None:
        if value is not None:
            if not _SCHEME.match(value):
                raise ValueError("not an Apprise URL: write scheme://… such as json://host/path or mailto://…")
            references(value)
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> "UrlEntry":
        if (self.url is None) == (self.url_file is None):
            raise ValueError("give exactly one of url (with ${VAR} references for secrets) and url_file, not both or neither")
        return self

    def describe(self) -> str:
        """The entry as it may be shown: the masked URL template, or the file it comes from."""
        return mask_url(self.url) if self.url is not None else f"(url_file {self.url_file})"


class ReceiverSpec(StrictModel):
    """A named receiver: where notifications go (Apprise URLs and/or a Python hook), with
    its template, active hours, repeat interval and whether it hears of resolutions."""

    description: str | None = None
    urls: list[UrlEntry] = []
    hook: str | None = Field(default=None, pattern=NAME_PATTERN, description="a Python callable registered with register_hook()")
    template: str | None = Field(default=None, description="a name from templates: (default: 'default')")
    active: Union[str, CalendarSpec, None] = Field(
        default=None, description="when the receiver takes notifications: a calendar name or an inline calendar (default: always)"
    )
    repeat: Duration | None = Field(default=None, description="re-notify interval while an escalation stays open")
    send_resolved: bool = Field(
        default=False, description="also notify this receiver, once, when an escalation it was notified of closes (kind 'resolved')"
    )
    concurrency: int | None = Field(
        default=None, ge=1, le=64, description="sends to this receiver in flight at once (default: delivery.concurrency)"
    )

    @model_validator(mode="after")
    def _destination(self) -> "ReceiverSpec":
        if not self.urls and self.hook is None:
            raise ValueError("a receiver needs urls, a hook, or both")
        return self


@dataclass(frozen=True)
class AlertMessage:
    """One rendered message for one receiver: what Apprise sends and what a hook gets.

    ``notifications`` are every notification the message stands for (also those only
    counted in "and N more"); ``group`` the labels the group shares.
    """

    receiver: str
    title: str
    body: str
    notify_type: str
    group: Mapping[str, str]
    notifications: tuple[Notification, ...]
    created_at: datetime
    fallback: bool = False
    omitted: int = 0


Hook = Callable[[AlertMessage], Union[bool, None, Awaitable[Union[bool, None]]]]

_hooks: dict[str, Hook] = {}


def register_hook(name: str, function: Hook | None = None) -> Any:
    """Register ``function`` as the hook called ``name`` (also usable as a decorator).

    Registering a name again replaces the earlier hook: hooks are looked up when a
    message is sent, so a test or an application can swap them.
    """
    if not re.fullmatch(NAME_PATTERN, name):
        raise ValueError(f"bad hook name {name!r}")

    def add(target: Hook) -> Hook:
        _hooks[name] = target
        return target

    return add(function) if function is not None else add


def unregister_hook(name: str) -> None:
    """Forget the hook called ``name`` (no error if there is none)."""
    _hooks.pop(name, None)


def registered_hooks() -> dict[str, Hook]:
    """The hooks registered in this process, by name."""
    return dict(_hooks)


def resolve_url(receiver: str, index: int, entry: UrlEntry, environ: Mapping[str, str]) -> str:
    """The usable URL of ``entry``: references replaced, or the file read.  Every secret
    value read is registered for redaction before it is returned."""
    where = f"receiver {receiver!r} urls[{index}]"
    if entry.url_file is not None:
        try:
            text = Path(entry.url_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ReceiverError(f"{where}: cannot read url_file {entry.url_file}: {exc.strerror or type(exc).__name__}") from None
        except UnicodeDecodeError:
            raise ReceiverError(f"{where}: url_file {entry.url_file} is not UTF-8 text") from None
        _register_url_parts(text)
        if not _SCHEME.match(text):
            raise ReceiverError(f"{where}: url_file {entry.url_file} does not hold an Apprise URL (scheme://…)")
        return text
    assert entry.url is not None

    def replace(found: re.Match[str]) -> str:
        if found.group(0) == "$$":
            return "$"
        name = found.group(1)
        value = environ.get(name)
        if value is None:
            raise ReceiverError(f"{where}: environment variable {name} is not set")
        register_secret(value)
        return value

    return _REFERENCE.sub(replace, entry.url)


def _register_url_parts(url: str) -> None:
    """A URL read from a file is secret as a whole, and so are its password and the parts
    that look like tokens (user, host, path segments and query values with letters and
    digits, 8 characters or more), which plugins may log on their own."""
    register_secret(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    if parts.password:
        register_secret(parts.password)
    candidates = [parts.username or "", parts.hostname or "", *parts.path.split("/"), *(p.partition("=")[2] for p in parts.query.split("&"))]
    for value in candidates:
        if _TOKEN_LIKE.fullmatch(value):
            register_secret(value)
