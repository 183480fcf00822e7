"""The whole system as separate processes, the way `make run` starts it.

Each service runs as `python -m services.<name>` with the test run's
namespace; its output goes to `artifacts/logs/<namespace>/<service>.log`
so that a failing end-to-end test can be read afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from services.kit.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("booking", "attendance", "notifications", "scheduler")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class System:
    def __init__(
        self,
        settings: Settings,
        *,
        smtp_port: int,
        extra_env: dict[str, str] | None = None,
        services: tuple[str, ...] = SERVICES,
    ) -> None:
        self.settings = settings
        self.gateway_port = free_port()
        self.gateway_url = f"http://127.0.0.1:{self.gateway_port}"
        self.services = services
        self.logs = ROOT / "artifacts" / "logs" / settings.mentorship_namespace
        self.metrics_ports = {name: free_port() for name in (*services, "gateway")}
        self.env = {
            **os.environ,
            "MENTORSHIP_NAMESPACE": settings.mentorship_namespace,
            "RABBITMQ_URL": settings.rabbitmq_url,
            "POSTGRES_URL": settings.postgres_url,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "GATEWAY_PORT": str(self.gateway_port),
            "JWT_SECRET": settings.jwt_secret,
            "STRIPE_WEBHOOK_SECRET": settings.stripe_webhook_secret,
            "OUTBOX_POLL_SECONDS": "0.2",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def log_of(self, service: str) -> str:
        path = self.logs / f"{service}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start_service(self, name: str, **env: str) -> None:
        """Start `name` (`booking`, or `booking#2` for a second replica of booking)."""
        self.logs.mkdir(parents=True, exist_ok=True)
        out = (self.logs / f"{name}.log").open("ab")
        port = self.metrics_ports.setdefault(name, free_port())
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", f"services.{name.split('#', 1)[0]}"],
            cwd=ROOT,
            env={**self.env, "METRICS_PORT": str(port), **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    async def start(self, within: float = 60.0) -> None:
        """Every service; the scheduler last, once the others' queues are bound, so that
        its start-up tick reaches each of them (a tick one queue takes is not retried for
        another that was not bound yet)."""
        for name in (*self.services, "gateway"):
            if name != "scheduler":
                self.start_service(name)
        await self.wait_ready(within)
        if "scheduler" in self.services:
            self.start_service("scheduler")
            await self.wait_ready(within)

    async def wait_ready(self, within: float = 60.0) -> None:
        """Until every service answers /readyz on its METRICS_PORT and the gateway /healthz."""
        deadline = asyncio.get_running_loop().time() + within
        pending = set(self.processes)
        async with httpx.AsyncClient() as client:
            while pending:
                for name in list(pending):
                    process = self.processes[name]
                    if process.poll() is not None:
                        raise RuntimeError(
                            f"{name} exited with {process.returncode}:\n{self.log_of(name)[-4000:]}"
                        )
                    url = (
                        f"{self.gateway_url}/healthz"
                        if name == "gateway"
                        else f"http://127.0.0.1:{self.metrics_ports[name]}/readyz"
                    )
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(url)).status_code == 200:
                            pending.discard(name)
                if asyncio.get_running_loop().time() > deadline:
                    for name in pending - {"gateway"}:
                        self.processes[name].send_signal(signal.SIGUSR1)  # logs its tasks
                    await asyncio.sleep(2.0)
                    logs = "\n".join(f"--- {n}\n{self.log_of(n)[-12000:]}" for n in pending)
                    raise TimeoutError(f"not ready within {within}s: {sorted(pending)}\n{logs}")
                await asyncio.sleep(0.2)

    def stop_service(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop(self) -> None:
        for name in list(self.processes):
            self.stop_service(name)
