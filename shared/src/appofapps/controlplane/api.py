"""A few calls to a Kubernetes API server over mutual TLS: readiness, and the objects the lifecycle needs.

Deliberately tiny (standard library only): the estate talks to clusters through Pulumi; the lifecycle only
asks whether the server is ready, registers the simulated node and reads what the tests check.
"""

from __future__ import annotations

import http.client
import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ApiError(RuntimeError):
    """The API server answered with an error status; the message carries its own."""

    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {message}")
        self.status = status


@dataclass(frozen=True)
class KubeApi:
    """The API server at ``https://127.0.0.1:<port>``, as the control plane's admin."""

    port: int
    ca_cert: Path
    client_cert: Path
    client_key: Path
    timeout: float = 10.0

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_cert))
        context.load_cert_chain(str(self.client_cert), str(self.client_key))
        return context

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | list[Any] | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        """(status, decoded JSON or text); raises OSError when nothing answers."""
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=self._context(), timeout=self.timeout
        )
        try:
            payload = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": content_type, "Accept": "application/json"} if payload else {}
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            raw = response.read().decode("utf-8", errors="replace")
        finally:
            connection.close()
        try:
            return response.status, json.loads(raw)
        except json.JSONDecodeError:
            return response.status, raw

    def get(self, path: str) -> Any:
        status, data = self.call("GET", path)
        if status >= 300:
            raise ApiError("GET", path, status, data.get("message", "") if isinstance(data, dict) else data)
        return data

    def send(
        self, method: str, path: str, body: dict[str, Any] | list[Any], content_type: str = "application/json"
    ) -> Any:
        status, data = self.call(method, path, body, content_type)
        if status >= 300:
            raise ApiError(method, path, status, data.get("message", "") if isinstance(data, dict) else data)
        return data

    def exists(self, path: str) -> bool:
        status, _ = self.call("GET", path)
        return status == 200

    def ready(self) -> bool:
        """True when ``/readyz`` answers ok; False while it is starting or not answering at all."""
        try:
            status, _ = self.call("GET", "/readyz")
        except (OSError, ssl.SSLError, http.client.HTTPException):
            return False
        return status == 200
