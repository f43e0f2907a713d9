"""Sending rendered messages: every destination at once, within per-receiver bounds and a timeout.

Each message goes to each destination of its receiver (every Apprise URL, and the hook)
as one task; tasks run concurrently on one event loop, at most ``concurrency`` at a
time per receiver (a receiver's own ``concurrency`` overrides it), so a slow or hanging
receiver holds only its own slots and never delays the others.  Each send is bounded
by ``timeout`` seconds.  ``spmfile://`` is written by spm-rules itself, buffered (see
:class:`~spm_rules.alerting.apprise_delivery.SpmfileSink`), outside the bound: it
waits on no network.  A receiver got a message only when every one of its destinations
did.  Nothing here raises for a failed send: every task ends as a :class:`SendResult`
whose ``detail`` is safe to log.
"""

from __future__ import annotations

import asyncio
import inspect
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Awaitable, Callable, Coroutine, Mapping, Sequence, TypeVar
from urllib.parse import urlsplit

from .apprise_delivery import SpmfileSink, display_url, notify_url
from .receivers import AlertMessage, Hook, ReceiverError, ReceiverSpec, resolve_url
from .redaction import redact

__all__ = ["Destination", "SendResult", "SendTask", "destinations", "run_tasks", "tasks_for", "GRACE_SECONDS"]

#: How much longer than the timeout a task may take before it is abandoned.
GRACE_SECONDS = 1.0

T = TypeVar("T")

# Hooks run here rather than in the loop's default executor, so that asyncio.run does
# not wait at shutdown for a hook that outlived its timeout.
_hook_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="spm-hook")


@dataclass(frozen=True)
class SendResult:
    """What one destination said: ``target`` is the masked URL or ``hook NAME``."""

    receiver: str
    target: str
    delivered: bool
    detail: str


@dataclass(frozen=True)
class SendTask:
    """One send to do: ``run`` is None when the destination could not even be prepared
    (``detail`` says why); ``bounded`` sends count against their receiver's concurrency."""

    receiver: str
    target: str
    run: Callable[[], Awaitable[tuple[bool, str]]] | None
    detail: str = ""
    bounded: bool = True


async def _call_hook(hook: Hook, message: AlertMessage) -> tuple[bool, str]:
    if inspect.iscoroutinefunction(hook):
        result: Any = await hook(message)
    else:
        result = await asyncio.get_running_loop().run_in_executor(_hook_pool, hook, message)
        if inspect.isawaitable(result):
            result = await result
    return (False, "the hook returned False") if result is False else (True, "delivered")


@dataclass(frozen=True)
class Destination:
    """One destination of a receiver, prepared once per batch: ``send`` delivers a message
    there, or is None when the destination could not be prepared (``detail`` says why);
    ``bounded`` is False for a local sink that waits on no network."""

    target: str
    send: Callable[[AlertMessage], Awaitable[tuple[bool, str]]] | None
    detail: str = ""
    bounded: bool = True


def destinations(receiver: str, spec: ReceiverSpec, environ: Mapping[str, str], hooks: Mapping[str, Hook], timeout: float) -> list[Destination]:
    """Where ``receiver``'s messages go: one per URL (resolved and masked) and hook."""
    found = []
    for index, entry in enumerate(spec.urls):
        try:
            url = resolve_url(receiver, index, entry, environ)
        except ReceiverError as exc:
            found.append(Destination(entry.describe(), None, str(exc)))
            continue
        shown = entry.describe() if entry.url_file is not None else display_url(url)
        if urlsplit(url).scheme.lower() == "spmfile":
            try:
                found.append(Destination(shown, partial(_to_file, SpmfileSink(url)), bounded=False))
            except ValueError as exc:
                found.append(Destination(shown, None, f"receiver {receiver!r}: {exc}"))
            continue
        found.append(Destination(shown, partial(_notify, url, timeout)))
    if spec.hook is not None:
        hook = hooks.get(spec.hook)
        target = f"hook {spec.hook}"
        if hook is None:
            found.append(Destination(target, None, f"receiver {receiver!r}: no hook {spec.hook!r} is registered"))
        else:
            found.append(Destination(target, partial(_call_hook, hook)))
    return found


async def _notify(url: str, timeout: float, message: AlertMessage) -> tuple[bool, str]:
    return await notify_url(url, message.title, message.body, message.notify_type, timeout)


async def _to_file(sink: SpmfileSink, message: AlertMessage) -> tuple[bool, str]:
    return await sink.send(message.title, message.body, message.notify_type)


def tasks_for(message: AlertMessage, targets: Sequence[Destination]) -> list[SendTask]:
    """The sends that deliver ``message`` to its receiver's ``targets``: one per destination."""
    return [
        SendTask(message.receiver, d.target, partial(d.send, message) if d.send is not None else None, d.detail, d.bounded) for d in targets
    ]


def run_tasks(tasks: Sequence[SendTask], concurrency: int, timeout: float, limits: Mapping[str, int] | None = None) -> list[SendResult]:
    """Run every task, each within ``timeout`` seconds, at most ``concurrency`` bounded ones
    at once per receiver (``limits`` gives some receivers their own bound)."""
    if not tasks:
        return []

    async def main() -> list[SendResult]:
        bounds: dict[str, asyncio.Semaphore] = {}

        async def attempt(task: SendTask) -> tuple[bool, str]:
            assert task.run is not None
            try:
                return await asyncio.wait_for(task.run(), timeout + GRACE_SECONDS)
            except asyncio.TimeoutError:
                return False, f"timed out after {timeout:g}s"
            except Exception as exc:  # a hook's or plugin's failure is a failed send, never a crash
                return False, f"{type(exc).__name__}: {redact(str(exc))}"

        async def one(task: SendTask) -> SendResult:
            if task.run is None:
                return SendResult(task.receiver, task.target, False, task.detail)
            if not task.bounded:
                delivered, detail = await attempt(task)
            else:
                if task.receiver not in bounds:
                    bounds[task.receiver] = asyncio.Semaphore(max(1, (limits or {}).get(task.receiver, concurrency)))
                async with bounds[task.receiver]:
                    delivered, detail = await attempt(task)
            return SendResult(task.receiver, task.target, delivered, redact(detail))

        return list(await asyncio.gather(*(one(task) for task in tasks)))

    return _run(main())


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to the end, also when called from inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
