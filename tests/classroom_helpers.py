"""Shared by the classroom tests: the trainer's HTTP calls and sockets, a student's console."""

from __future__ import annotations

import time
from typing import Any

import requests

from tests.conftest import WsDriver

KEY = "test-trainer-key"
HEADERS = {"X-Trainer-Key": KEY}


class Api:
    """The class API of one running app, as the trainer (or, ``trainer=False``, anyone)."""

    def __init__(self, url: str, key: str | None = KEY) -> None:
        self.url = url
        self.http = requests.Session()
        if key:
            self.http.headers["X-Trainer-Key"] = key

    def call(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        response = self.http.request(method, self.url + path, json=body, timeout=10)
        assert response.status_code == status, (response.status_code, response.text)
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    def open(self, **body: Any) -> dict[str, Any]:
        found: dict[str, Any] = self.call("POST", "/api/classes", body, 201)
        return found


class ClassWs(WsDriver):
    """A WebSocket client on any path, with headers (the trainer's key)."""

    def __init__(self, url: str, key: str | None = KEY, **options: Any) -> None:
        super().__init__(url, header=[f"X-Trainer-Key: {key}"] if key else [], **options)

    def row(self, student: str, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        """The next dashboard row of this student with these values."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no row {match} for {student}: {self.frames[-5:]}")
            frame = self.next(remaining)
            if frame["type"] != "student" or frame["row"]["id"] != student:
                continue
            if all(frame["row"].get(k) == v for k, v in match.items()):
                return dict(frame["row"])


class Sockets:
    """Every client a test opens, closed at its end (no socket left for ResourceWarning)."""

    def __init__(self, url: str, ws_url: str) -> None:
        self.url, self.ws_url = url, ws_url
        self.opened: list[WsDriver] = []
        self.apis: list[Api] = []

    def student(self) -> WsDriver:
        return self._keep(WsDriver(self.ws_url))

    def trainer_console(self) -> ClassWs:
        return self._keep(ClassWs(self.ws_url))

    def board(self, class_id: str) -> ClassWs:
        board = self._keep(ClassWs(f"{self.ws_url}/class/{class_id}"))
        board.wait_for("dashboard")
        return board

    def follower(self, class_id: str) -> ClassWs:
        return self._keep(ClassWs(f"{self.ws_url}/class/{class_id}/follow", key=None))

    def api(self, key: str | None = KEY) -> Api:
        api = Api(self.url, key)
        self.apis.append(api)
        return api

    def _keep(self, driver: Any) -> Any:
        self.opened.append(driver)
        return driver

    def close(self) -> None:
        for driver in self.opened:
            try:
                driver.close()
            except Exception:
                pass
        for api in self.apis:
            api.http.close()


def join(driver: WsDriver, code: str, name: str, **extra: Any) -> dict[str, Any]:
    driver.send({"type": "class_join", "code": code, "name": name, **extra})
    return driver.wait_for("class_joined")
