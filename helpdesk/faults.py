"""Fault-injection switches for tests: errors, latency and outages on ``/api/v2/*`` requests.

Local-only: set through ``PUT /_stub/faults`` (see control.py), no authentication.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from flask import Response, jsonify

from helpdesk.errors import BadRequest

MAX_LATENCY_MS = 60_000


@dataclass(frozen=True)
class FaultConfig:
    """What to inject. All zero/false (the default) means a healthy server.

    Attributes:
        error_rate: fraction (0-1) of API requests answered with ``error_status``, drawn from an
            RNG seeded with ``seed`` each time the switches are set, so a run is repeatable.
        error_status: HTTP status of injected errors (400-599).
        latency_ms: delay added before answering.
        slow_every: 0 delays every request by ``latency_ms``; N delays only every Nth request.
        down: answer every API request with 503 and ``Connection: close``.
        seed: RNG seed for ``error_rate``.
    """

    error_rate: float = 0.0
    error_status: int = 500
    latency_ms: int = 0
    slow_every: int = 0
    down: bool = False
    seed: int = 0


class FaultSwitches:
    """Holds the current ``FaultConfig`` and decides, request by request, what to inject."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._config = FaultConfig()
        self._rng = random.Random(0)
        self._count = 0

    def get(self) -> dict[str, Any]:
        """Returns the current switches as JSON-ready dict."""
        with self._lock:
            return asdict(self._config)

    def set(self, data: Any) -> dict[str, Any]:
        """Replaces the switches; keys left out take their default, counters restart.

        Args:
            data: a JSON object with any of FaultConfig's fields.

        Returns:
            The switches now in force.

        Raises:
            BadRequest: an unknown key or a value out of range.
        """
        config = _parse(data)
        with self._lock:
            self._config, self._rng, self._count = config, random.Random(config.seed), 0
        return asdict(config)

    def reset(self) -> None:
        """Turns every fault off."""
        self.set({})

    def apply(self) -> Response | None:
        """Injects the configured fault into the current request.

        Returns:
            A response to send instead of the real one, or None to carry on (maybe after a delay).
        """
        with self._lock:
            config = self._config
            self._count += 1
            slow = config.latency_ms > 0 and (config.slow_every == 0 or self._count % config.slow_every == 0)
            fail = config.error_rate > 0 and self._rng.random() < config.error_rate
        if slow:
            time.sleep(config.latency_ms / 1000)
        if config.down:
            return _fault_response(503, "ServiceUnavailable", "Helpdesk stub is down (fault injection).",
                                   close=True)
        if fail:
            return _fault_response(config.error_status, "InjectedFault",
                                   f"Injected fault: HTTP {config.error_status} (error_rate {config.error_rate}).")
        return None


def _fault_response(status: int, error: str, description: str, close: bool = False) -> Response:
    response = jsonify(error=error, description=description)
    response.status_code = status
    if status in (429, 503):
        response.headers["Retry-After"] = "1"
    if close:
        response.headers["Connection"] = "close"
    return response


def _parse(data: Any) -> FaultConfig:
    if not isinstance(data, Mapping):
        raise BadRequest(f'Invalid faults: "{data}". Must be a JSON object.')
    known = {f.name: f.type for f in fields(FaultConfig)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise BadRequest(f'Invalid fault switch: "{unknown[0]}". Known switches: {", ".join(known)}.')
    config = FaultConfig(**data)
    checks = (
        ("error_rate", isinstance(config.error_rate, (int, float)) and 0 <= config.error_rate <= 1,
         "Must be a number from 0 to 1"),
        ("error_status", _is_int(config.error_status) and 400 <= config.error_status <= 599,
         "Must be an HTTP status from 400 to 599"),
        ("latency_ms", _is_int(config.latency_ms) and 0 <= config.latency_ms <= MAX_LATENCY_MS,
         f"Must be an integer from 0 to {MAX_LATENCY_MS}"),
        ("slow_every", _is_int(config.slow_every) and config.slow_every >= 0, "Must be a non-negative integer"),
        ("down", isinstance(config.down, bool), "Must be true or false"),
        ("seed", _is_int(config.seed), "Must be an integer"),
    )
    for name, ok, rule in checks:
        if not ok or isinstance(getattr(config, name), bool) != (name == "down"):
            raise BadRequest(f'Invalid {name}: "{getattr(config, name)}". {rule}.')
    return config


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
