"""The one module that imports Apprise: sending one message to one URL, masked URLs for
display, and the custom schemes ``console://`` and ``spmfile://``.

Apprise traps handled here:

* ``notify()`` says True, False or None (nothing was sent: no service, no tag matched),
  and Apprise 2 answers an ``AppriseResult`` whose truth is success; only a true answer
  counts as delivered, None is a failure.
* A send is bounded three ways by the receiver timeout: the plugin's socket connect and
  read timeouts, Apprise's own service timeout where it has one, and an outer
  ``asyncio.wait_for``.  Exceptions become a failure whose text is redacted.
* Plugins log full request URLs (with tokens in the path) at DEBUG: importing this
  module installs :func:`~spm_rules.alerting.redaction.install_log_redaction`, and URLs
  are shown only in Apprise's privacy form, masked further.
* Apprise's plugin manager is a process-wide singleton and refuses a scheme registered
  twice; the custom schemes are registered once per process, and only if free.
  Registering loads every plugin Apprise has (about 0.13 s of CPU), so it waits for
  Apprise's first use here: a run that delivers only to ``spmfile://`` never pays it.

``console://`` writes each message to standard error (the demo's "terminal"): it is text
for a person, and standard output belongs to the commands' machine output (``--format json``).
``spmfile://PATH`` appends one JSON line per message (``title``, ``body``, ``type``) to
the file PATH relative to the working directory (``spmfile://?path=/abs/file.jsonl`` for
an absolute path), created with mode 0600.  Delivery writes it without Apprise, through
a :class:`SpmfileSink`: the messages of a batch are appended in one write, and a message
counts as delivered once its line is written.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import sys
import threading
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import apprise
from apprise.decorators import notify as apprise_notify
from apprise.utils.parse import parse_url

from .redaction import install_log_redaction, mask_url, redact

__all__ = ["CUSTOM_SCHEMES", "SpmfileSink", "notify_url", "display_url", "spmfile_path", "interpret_result", "register_schemes", "scheme_available"]

CUSTOM_SCHEMES = ("console", "spmfile")

_file_lock = threading.Lock()
_ASSET_OPTIONS = set(inspect.signature(apprise.AppriseAsset.__init__).parameters)


def _asset(timeout: float) -> apprise.AppriseAsset:
    options: dict[str, Any] = {"secure_logging": True, "service_timeout": timeout, "storage_mode": "memory"}
    return apprise.AppriseAsset(**{key: value for key, value in options.items() if key in _ASSET_OPTIONS})


#: How the console names Apprise's message types to a person reading a terminal.
_CONSOLE_TYPES = {"failure": "URGENT", "warning": "warning", "success": "resolved", "info": "info"}


def _console(body: str, title: str, notify_type: str, meta: dict[str, Any], *args: Any, **kwargs: Any) -> bool:
    """``console://[LABEL]``: the message on standard error, framed, one write; the
    optional label (``console://command-center``) says whose screen it stands for."""
    rule = "─" * 8
    label = unquote(str(meta.get("host") or ""))
    who = f"→ {label} · " if label else ""
    kind = _CONSOLE_TYPES.get(str(notify_type), str(notify_type))
    sys.stderr.write(f"{rule} {who}{kind}: {title} {rule}\n{body}\n\n")
    sys.stderr.flush()
    return True


def spmfile_path(meta: dict[str, Any]) -> Path:
    """The file a ``spmfile://`` URL names (Apprise's parsed URL parts in ``meta``)."""
    explicit = (meta.get("qsd") or {}).get("path")
    if explicit:
        return Path(explicit)
    written = unquote(str(meta.get("host") or "") + str(meta.get("fullpath") or ""))
    if not written:
        raise ValueError("spmfile:// needs a file: spmfile://out/notifications.jsonl or spmfile://?path=/abs/file.jsonl")
    return Path(written)


def _line(title: str, body: str, notify_type: str) -> str:
    return json.dumps({"title": title, "body": body, "type": notify_type}, ensure_ascii=False) + "\n"


def _append(path: Path, text: str) -> None:
    """Append ``text`` to ``path`` in one write (the file created with mode 0600)."""
    data = text.encode("utf-8")
    with _file_lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            while data:
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)


def _spmfile(body: str, title: str, notify_type: str, meta: dict[str, Any], *args: Any, **kwargs: Any) -> bool:
    """``spmfile://PATH`` through Apprise: one JSON line per message appended to PATH (mode 0600)."""
    _append(spmfile_path(meta), _line(title, body, notify_type))
    return True


class SpmfileSink:
    """One ``spmfile://`` destination, buffered: the lines sent to it while one turn of the
    event loop runs are appended in one write, and each send returns when its line is
    written (a burst of thousands of messages costs a few writes, not an open and a write
    each).  Made per delivery batch; ValueError when the URL names no file."""

    def __init__(self, url: str) -> None:
        self.path = spmfile_path(parse_url(url, verify_host=False, simple=True) or {})
        self._lines: list[str] = []
        self._waiting: list[asyncio.Future[tuple[bool, str]]] = []

    async def send(self, title: str, body: str, notify_type: str) -> tuple[bool, str]:
        """Queue one message's line; (delivered, why) once the buffer holding it is written."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[tuple[bool, str]] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._flush)
        self._lines.append(_line(title, body, notify_type))
        self._waiting.append(done)
        return await done

    def _flush(self) -> None:
        lines, waiting = self._lines, self._waiting
        self._lines, self._waiting = [], []
        try:
            _append(self.path, "".join(lines))
            result = (True, "delivered")
        except OSError as exc:
            result = (False, f"cannot write {self.path}: {exc.strerror or exc}")
        for done in waiting:
            if not done.done():
                done.set_result(result)


def scheme_available(scheme: str) -> bool:
    """Whether Apprise knows ``scheme`` in this process (built in or registered)."""
    register_schemes()
    return scheme.lower() in apprise.NotificationManager()


_registered = False
_register_lock = threading.Lock()


def register_schemes() -> None:
    """Register ``console://`` and ``spmfile://`` with Apprise, once per process: called
    before every use of Apprise's plugins here (see the module's notes)."""
    global _registered
    with _register_lock:
        if _registered:
            return
        manager = apprise.NotificationManager()
        with warnings.catch_warnings():
            # The first look-up loads Apprise's plugins, one of which imports the deprecated imghdr.
            warnings.simplefilter("ignore", DeprecationWarning)
            for scheme, function, name in (
                ("console", _console, "spm-rules console"),
                ("spmfile", _spmfile, "spm-rules JSON-lines file"),
            ):
                if scheme not in manager:
                    apprise_notify(on=scheme, name=name)(function)
        _registered = True


install_log_redaction()


def interpret_result(result: Any) -> tuple[bool, str]:
    """Apprise's answer as (delivered, why): only a true answer is a delivery."""
    if result is None:
        return False, "nothing was sent (Apprise answered None)"
    if bool(result):
        return True, "delivered"
    status = getattr(result, "status", None)
    reasons = []
    logs = getattr(result, "logs", None)
    if callable(logs):
        reasons = [redact(str(entry.message)) for entry in logs() if getattr(entry, "level", "") in ("WARNING", "ERROR", "CRITICAL")]
    what = {"NOMATCH": "nothing was sent", "TIMEOUT": "timed out"}.get(getattr(status, "name", ""), "not delivered")
    return False, what + (": " + "; ".join(reasons)[:300] if reasons else "")


async def notify_url(url: str, title: str, body: str, notify_type: str, timeout: float) -> tuple[bool, str]:
    """Send one message to one Apprise URL within ``timeout`` seconds: (delivered, why)."""
    register_schemes()
    asset = _asset(timeout)
    plugin = apprise.Apprise.instantiate(url, asset=asset)
    if plugin is None:
        return False, "not a usable Apprise URL (unknown scheme or bad arguments)"
    plugin.socket_connect_timeout = min(float(plugin.socket_connect_timeout), timeout)
    plugin.socket_read_timeout = min(float(plugin.socket_read_timeout), timeout)
    sender = apprise.Apprise(asset=asset)
    sender.add(plugin)
    try:
        result = await asyncio.wait_for(
            sender.async_notify(body=body, title=title, notify_type=apprise.NotifyType(notify_type), body_format=apprise.NotifyFormat.TEXT),
            timeout=timeout + 1.0,
        )
    except asyncio.TimeoutError:
        return False, f"timed out after {timeout:g}s"
    except Exception as exc:  # a plugin's own bug: a failed send, told without secrets
        return False, f"{type(exc).__name__}: {redact(str(exc))}"
    try:
        return interpret_result(result)
    finally:
        close = getattr(result, "close", None)  # Apprise 2 may keep the call's logs in a temporary file
        if callable(close):
            close()


def display_url(url: str) -> str:
    """``url`` as it may be shown: Apprise's privacy form (secrets of the plugin masked)
    with only the query arguments written in the URL, masked once more."""
    parts = urlsplit(url)
    if parts.scheme.lower() in CUSTOM_SCHEMES:
        return mask_url(url)
    register_schemes()
    plugin = apprise.Apprise.instantiate(url, asset=_asset(1.0))
    if plugin is None:
        return mask_url(url)
    private = urlsplit(plugin.url(privacy=True))
    written = {key.lower() for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
    kept = [pair for pair in private.query.split("&") if pair and unquote(pair.partition("=")[0]).lower() in written]
    return mask_url(urlunsplit((private.scheme, private.netloc, private.path, "&".join(kept), "")))
