"""Record every VTEX exchange of a run, and replay a run from such a recording without network.

A support engineer can then reproduce an operator's online diagnosis exactly. A recording
holds, per exchange: method, path with query, request body, status, content type, Retry-After
and response body. Request headers (where the key pair travels) are never stored, and the key
and token are blanked in every stored field, also JSON-escaped or percent-encoded
(redaction.py), so a recording can be attached to a ticket.

Writes (`guide --apply`: the SKU record PUT, the salespolicy POST) are recorded like any other
exchange, with the body sent. A replay answers them from the recording too: nothing reaches
VTEX, and a replayed write matches only if the replayed run sends the same body (it does when
it read the same record). Reads repeated after a write (a verification) get their recorded
answers in order, so the replay sees the state change the live run saw.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

from assistant.errors import VtexApiError, VtexConfigError
from assistant.outfiles import write_atomic
from assistant.vtex.client import MAX_BODY_BYTES, VtexClient, VtexConfig
from assistant.vtex.deadline import Deadline
from assistant.vtex.redaction import Redactor

FORMAT = "order-assistant-recording"
VERSION = 1
# A recording holds one run's exchanges for one order: tens of KB. A file this size is not
# one, and is refused before it is read into memory.
MAX_RECORDING_BYTES = 16 * 1024 * 1024


# What a replayed client pretends to be: a loopback base URL never reached (the transport
# answers), and a key pair that is not anyone's.
def _replay_config() -> VtexConfig:
    # Random placeholders: the client blanks its "secrets" in every detail it reports, and a
    # fixed word would blank that word wherever it appears in an id.
    placeholder = f"replay-{secrets.token_hex(12)}"
    return VtexConfig(
        account="replay",
        app_key=placeholder,
        app_token=placeholder,
        base_url_override="http://127.0.0.1",
    )


class NotInRecording(httpx.TransportError):
    """The replayed run asked for something the recorded run did not."""


def _request_key(method: str, path: str, body: Any) -> str:
    return json.dumps([method.upper(), path, body], sort_keys=True)


def _path_of(url: httpx.URL) -> str:
    query = url.query.decode("ascii") if url.query else ""
    return url.raw_path.decode("ascii").split("?", 1)[0] + (f"?{query}" if query else "")


def _json_or_text(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", "replace")


def _read_capped(request: httpx.Request, response: httpx.Response) -> bytes:
    """The body, decompressed, read no further than the client's cap: the recorder reads before
    the client does, so it must not fill the memory first. As in the client, an oversized
    answer is an error, and an oversized error page (never read) is dropped."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                break
            chunks.append(chunk)
        else:
            return b"".join(chunks)
    finally:
        response.close()
    status = response.status_code
    if not 200 <= status < 300:
        return b""
    problem = (
        f"VTEX answered {status} with a body larger than "
        f"{MAX_BODY_BYTES // (1024 * 1024)} MB; not read"
    )
    raise VtexApiError(request.method, _path_of(request.url), problem, status)


class RecordingTransport(httpx.BaseTransport):
    """Passes requests to `inner` and keeps each exchange, secrets blanked."""

    def __init__(self, inner: httpx.BaseTransport, secrets: Iterable[str]) -> None:
        self.inner = inner
        self.redactor = Redactor(secrets)
        self.exchanges: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        content = _read_capped(request, response)
        blank = self.redactor.text
        exchange = {
            "method": request.method,
            "path": blank(_path_of(request.url)),
            # Blanked like the response: a written record is what VTEX sent, and a replay reads
            # the blanked response, so it sends (and must match) the blanked body.
            "request_body": _json_or_text(self._blank_bytes(request.content)),
            "status": response.status_code,
            "content_type": _blank_header(blank, response.headers.get("content-type")),
            "retry_after": _blank_header(blank, response.headers.get("retry-after")),
            "body": self.redactor.body(content.decode("utf-8", "replace")),
        }
        with self._lock:
            self.exchanges.append(exchange)
        # The body is decompressed already: the client must not decode it again.
        headers = [
            (name, value)
            for name, value in response.headers.multi_items()
            if name.lower() not in ("content-encoding", "content-length")
        ]
        return httpx.Response(
            response.status_code, headers=headers, content=content, request=request
        )

    def _blank_bytes(self, content: bytes) -> bytes:
        if not content:
            return content
        text = content.decode("utf-8", "replace")
        blanked = self.redactor.body(text)
        return content if blanked == text else blanked.encode("utf-8")

    def save(self, path: Path) -> None:
        document = {"format": FORMAT, "version": VERSION, "exchanges": self.exchanges}
        write_atomic(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self.inner.close()


def _blank_header(blank: Callable[[str], str], value: str | None) -> str | None:
    return None if value is None else blank(value)


class ReplayTransport(httpx.BaseTransport):
    """Answers from a recording; repeated requests get the recorded answers in order."""

    def __init__(self, exchanges: Iterable[Mapping[str, Any]]) -> None:
        self._answers: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for exchange in exchanges:
            key = _request_key(exchange["method"], exchange["path"], exchange.get("request_body"))
            self._answers[key].append(exchange)
        self._served: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: Path) -> ReplayTransport:
        try:
            with path.open("rb") as stream:
                data = stream.read(MAX_RECORDING_BYTES + 1)
            if len(data) > MAX_RECORDING_BYTES:
                raise VtexConfigError(
                    f"{path}: larger than {MAX_RECORDING_BYTES // (1024 * 1024)} MB, "
                    "not a recording of one run; refusing to read it"
                )
            document = json.loads(data.decode("utf-8"))
        except FileNotFoundError:
            raise VtexConfigError(f"{path}: no such recording") from None
        except RecursionError:
            raise VtexConfigError(f"{path}: not a readable recording (nested too deeply)") from None
        except (OSError, ValueError) as exc:
            raise VtexConfigError(f"{path}: not a readable recording ({exc})") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise VtexConfigError(f"{path}: not an order-assistant recording")
        if document.get("version") != VERSION:
            raise VtexConfigError(
                f"{path}: recording version {document.get('version')!r} "
                f"is not supported (expected {VERSION})"
            )
        exchanges = document.get("exchanges")
        if not isinstance(exchanges, list):
            raise VtexConfigError(f"{path}: exchanges: must be a list of recorded requests")
        for index, exchange in enumerate(exchanges):
            problem = _exchange_problem(exchange)
            if problem:
                raise VtexConfigError(f"{path}: exchanges[{index}]: {problem}")
        return cls(exchanges)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        key = _request_key(request.method, _path_of(request.url), _json_or_text(request.content))
        with self._lock:
            answers = self._answers.get(key)
            if not answers:
                raise NotInRecording(f"{request.method} {_path_of(request.url)}", request=request)
            position = min(self._served[key], len(answers) - 1)
            self._served[key] += 1
        answer = answers[position]
        headers = {
            k: v
            for k in ("content-type", "retry-after")
            if (v := answer.get(k.replace("-", "_"))) is not None
        }
        return httpx.Response(
            int(answer["status"]),
            headers=headers,
            content=(answer.get("body") or "").encode("utf-8"),
            request=request,
        )


def _exchange_problem(exchange: Any) -> str | None:
    """Why a recorded exchange cannot be replayed (a hand-edited file), or None."""
    if not isinstance(exchange, dict):
        return "must be an object"
    for key in ("method", "path"):
        if not isinstance(exchange.get(key), str) or not exchange[key]:
            return f"{key}: must be a non-empty string"
    status = exchange.get("status")
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        return "status: must be an HTTP status code"
    for key in ("body", "content_type", "retry_after"):
        if exchange.get(key) is not None and not isinstance(exchange[key], str):
            return f"{key}: must be a string or null"
    return None


def _no_wait(seconds: float) -> None:
    return


def open_client(
    env: Mapping[str, str],
    *,
    record: Path | None = None,
    replay: Path | None = None,
    deadline: Deadline | None = None,
    **client_options: Any,
) -> tuple[VtexClient, RecordingTransport | None]:
    """The client for an online run: live (optionally recorded) or replayed from a file;
    `deadline` is the run's (`--timeout`, and Ctrl-C)."""
    if replay is not None:
        transport: httpx.BaseTransport = ReplayTransport.from_file(replay)
        # A replay answers at once and exactly as recorded: the same retries as the live run
        # (a recorded 429 then 200 replays as such), without waiting.
        client = VtexClient(
            _replay_config(),
            transport=transport,
            sleep=_no_wait,
            requests_per_second=1e9,
            burst=1_000_000,
            deadline=deadline,
        )
        return client, None
    config = VtexConfig.from_env(env)
    recorder = None
    transport = httpx.HTTPTransport()
    if record is not None:
        recorder = RecordingTransport(transport, [config.app_key, config.app_token])
        transport = recorder
    client = VtexClient(config, transport=transport, deadline=deadline, **client_options)
    return client, recorder
