"""A RabbitMQ node and a PostgreSQL cluster of the test run's own, to break on purpose.

The fault suite (tests/faults) kills and restarts them; it must never touch the
machine's broker or database. Each runs on free loopback ports from a temporary
directory, is started by this module and is killed by the pid it started:

- `PrivateRabbitMQ`: Debian's `rabbitmq-server` (3.10) as node
  `faults-<random>@localhost`, with its own Erlang cookie (HOME is its
  directory), config file, empty plugin list, mnesia and log directories.
  `kill()` sends SIGKILL to the Erlang VM (the pid file's pid) and to the
  shell that started it; `start()` again comes back on the same data and ports.
  With `netns`, the node runs instead inside a network namespace of the test's
  (tests/support/network.py) as `rabbit@<address>`, on the standard ports there.
- `PrivatePostgres`: `initdb` and `pg_ctl` of PostgreSQL 15, run as the
  `postgres` user when the tests run as root, trust authentication, listening on
  127.0.0.1 only; `restart_immediately()` is `pg_ctl restart -m immediate`
  (a crash: no checkpoint, recovery from the WAL on start). With `standby_of`, a
  streaming standby: `pg_basebackup -R -X stream` of that cluster, started on its
  own port; `crash()` SIGKILLs a postmaster and every process it started,
  `promote()` is `pg_ctl promote`.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.support.system import free_port

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


def private_nodes_available() -> str | None:
    """Why the private nodes cannot run here, or None when they can."""
    if not (RABBITMQ_BIN / "rabbitmq-server").exists():
        return f"no {RABBITMQ_BIN / 'rabbitmq-server'}"
    if not (POSTGRES_BIN / "initdb").exists():
        return f"no {POSTGRES_BIN / 'initdb'}"
    if os.getuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a postgres user for initdb"
    return None


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class PrivateRabbitMQ:
    def __init__(
        self,
        base: Path,
        *,
        cookie: str | None = None,
        config: str = "",
        netns: str | None = None,
        address: str = "127.0.0.1",
    ) -> None:
        """On the machine's loopback, or with `netns` alone in that network namespace
        (tests/support/network.py) at `address`: its own epmd there, node name
        `rabbit@<address>` (long names), the standard ports, and guest allowed from
        other hosts, since its clients are in other namespaces."""
        self.dir = base
        self.dir.mkdir(parents=True, exist_ok=True)
        self.netns = netns
        self.prefix = ["ip", "netns", "exec", netns] if netns else []
        if netns:
            self.node = f"rabbit@{address}"
            self.port, self.dist_port = 5672, 25672
        else:
            self.node = f"faults-{secrets.token_hex(4)}@localhost"
            self.port, self.dist_port = free_port(), free_port()
        self.url = f"amqp://guest:guest@{address}:{self.port}/"
        self.log = self.dir / "server.log"
        self.pid_file = self.dir / "beam.pid"
        self._process: subprocess.Popen[bytes] | None = None
        cookie_file = self.dir / ".erlang.cookie"
        cookie_file.write_text(cookie_value := cookie or secrets.token_hex(16).upper())
        cookie_file.chmod(0o600)
        self.cookie = cookie_value
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "rabbitmq-env.conf").write_text("")
        listener = (
            f"listeners.tcp.default = {self.port}\nloopback_users = none\n"
            if netns
            else f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users.guest = true\n"
        )
        (self.dir / "rabbitmq.conf").write_text(
            listener
            # Its own disk is a temp dir: never block publishers for free space.
            + "disk_free_limit.absolute = 1MB\n"
            + config
        )
        self.env = {
            **os.environ,
            "HOME": str(self.dir),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_MNESIA_DIR": str(self.dir / "mnesia" / self.node),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
        }
        if netns:
            self.env["RABBITMQ_USE_LONGNAME"] = "true"
        else:
            self.env |= {
                "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                "ERL_EPMD_ADDRESS": "127.0.0.1",
                "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            }
        for name in ("RABBITMQ_URL", "POSTGRES_URL"):
            self.env.pop(name, None)

    def start(self, within: float = 90.0) -> float:
        """Start the node (again, on the same data); returns the seconds it took."""
        began = time.monotonic()
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()
        out = self.log.open("ab")
        self._process = subprocess.Popen(
            [*self.prefix, str(RABBITMQ_BIN / "rabbitmq-server")],
            cwd=self.dir,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        deadline = began + within
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited:\n{self.tail()}")
            # From the machine's namespace only its loopback can be probed.
            if (self.netns is not None or _port_open(self.port)) and self.ctl(
                "await_startup", "--timeout", "30"
            ).returncode == 0:
                return time.monotonic() - began
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.node} not up within {within}s:\n{self.tail()}")
            time.sleep(0.2)

    def beam_pid(self) -> int | None:
        """The Erlang VM's pid, from its pid file, if it is that node's VM."""
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ValueError):
            return None
        return pid if b"beam" in cmdline and str(self.dir).encode() in cmdline else None

    def kill(self) -> None:
        """SIGKILL the node: the VM and the shell that started it (nothing else)."""
        beam = self.beam_pid()
        if beam is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(beam, signal.SIGKILL)
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=30)
            self._process = None
        deadline = time.monotonic() + 30
        while beam is not None and Path(f"/proc/{beam}").exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"beam {beam} still alive")
            time.sleep(0.05)

    def restart(self) -> float:
        self.kill()
        return self.start()

    def ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.prefix, str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.node, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def queues(self) -> dict[str, tuple[int, int]]:
        """Every queue of the node: name → (ready, unacknowledged)."""
        done = self.ctl(
            "list_queues",
            "-q",
            "--no-table-headers",
            "name",
            "messages_ready",
            "messages_unacknowledged",
        )
        if done.returncode != 0:
            raise RuntimeError(f"list_queues failed: {done.stderr}")
        queues: dict[str, tuple[int, int]] = {}
        for line in done.stdout.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                queues[parts[0]] = (int(parts[1]), int(parts[2]))
        return queues

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def node_log_tail(self, chars: int = 3000) -> str:
        """The end of the node's own log (RABBITMQ_LOG_BASE), where it says why it closed
        a connection or what a queue's recovery is waiting for: gone with the directory
        once the suite ends, so a failure quotes it."""
        log = self.dir / "log" / f"{self.node}.log"
        return log.read_text(errors="replace")[-chars:] if log.exists() else self.tail(chars)

    def stop(self) -> None:
        self.kill()


class PrivateRabbitMQCluster:
    """Three (or `size`) private nodes in one cluster, quorum queue leaders spread over
    them (`queue_leader_locator = balanced`); clients connect to the first node."""

    def __init__(
        self,
        base: Path,
        size: int = 3,
        *,
        placed: Sequence[tuple[str, str]] = (),
        config: str = "",
    ) -> None:
        """`placed`: a (network namespace, address) per node instead of the loopback;
        `config`: lines added to every node's rabbitmq.conf."""
        cookie = secrets.token_hex(16).upper()
        config = "queue_leader_locator = balanced\n" + config
        where: Sequence[tuple[str | None, str]] = placed or [(None, "127.0.0.1")] * size
        self.nodes = [
            PrivateRabbitMQ(
                base / f"node{i}", cookie=cookie, config=config, netns=netns, address=address
            )
            for i, (netns, address) in enumerate(where)
        ]
        self.first = self.nodes[0]
        self.url = self.first.url

    def start(self) -> float:
        began = time.monotonic()
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(lambda node: node.start(), self.nodes))
        for node in self.nodes[1:]:
            for step in (("stop_app",), ("join_cluster", self.first.node), ("start_app",)):
                done = node.ctl(*step)
                if done.returncode != 0:
                    raise RuntimeError(f"{node.node} {step}: {done.stdout}{done.stderr}")
        return time.monotonic() - began

    def running(self) -> list[str]:
        """The nodes the first node sees running in its cluster."""
        done = self.first.ctl("cluster_status", "--formatter", "json")
        if done.returncode != 0:
            return []
        return list(json.loads(done.stdout).get("running_nodes", []))

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()


STANDBY_NAME = "standby"

# What a deployment guide gives a dedicated PostgreSQL server (PGTune's OLTP profile for
# 8 GiB, 2 cores, SSD), autovacuum at its defaults (on): the fault suite and the
# benchmarks run against this, not against the machine's server, which runs with
# autovacuum off. docs/operations.md, "PostgreSQL as deployed", lists them.
PRODUCTION_SETTINGS = {
    "max_connections": "300",
    "shared_buffers": "2GB",
    "effective_cache_size": "6GB",
    "maintenance_work_mem": "512MB",
    "work_mem": "8MB",
    "wal_buffers": "16MB",
    "min_wal_size": "1GB",
    "max_wal_size": "4GB",
    "checkpoint_completion_target": "0.9",
    "default_statistics_target": "100",
    "random_page_cost": "1.1",
    "effective_io_concurrency": "200",
    "autovacuum": "on",
}


class PrivatePostgres:
    def __init__(
        self,
        base: Path,
        *,
        settings: dict[str, str] | None = None,
        standby_of: PrivatePostgres | None = None,
    ) -> None:
        self.dir = base
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data = self.dir / "data"
        self.port = free_port()
        # Beyond PRODUCTION_SETTINGS, e.g. synchronous_standby_names on a primary.
        self.settings = settings or {}
        # A streaming standby of that cluster: its data is a base backup of it.
        self.standby_of = standby_of
        self.crashed = False
        self.log = self.dir / "server.log"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}"
        self._as_postgres = os.getuid() == 0
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)

    def _run(self, *command: str, timeout: float = 60, check: bool = True) -> str:
        argv = list(command)
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(
            argv, cwd=self.dir, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed:\n{done.stdout}\n{done.stderr}\n{self.tail()}")
        return done.stdout + done.stderr

    def _options(self) -> str:
        tuned = " ".join(
            f"-c {name}={value}" for name, value in (PRODUCTION_SETTINGS | self.settings).items()
        )
        return (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.dir} {tuned}"
        )

    def _pg_ctl(self, *args: str, options: bool = True) -> None:
        self._run(
            str(POSTGRES_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            *args,
            *(["-o", self._options()] if options else []),
        )

    def start(self) -> float:
        began = time.monotonic()
        if not self.data.exists() and self.standby_of is not None:
            # initdb's pg_hba.conf already trusts replication connections from 127.0.0.1.
            # -R writes primary_conninfo and standby.signal; the application name is
            # what the primary's synchronous_standby_names names.
            self._run(
                str(POSTGRES_BIN / "pg_basebackup"),
                "-D",
                str(self.data),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "-d",
                f"host=127.0.0.1 port={self.standby_of.port} user=postgres"
                f" application_name={STANDBY_NAME}",
            )
        if not self.data.exists():
            self._run(
                str(POSTGRES_BIN / "initdb"),
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            )
        self._pg_ctl("start")
        return time.monotonic() - began

    def restart_immediately(self) -> float:
        """`pg_ctl restart -m immediate`: every backend dies at once, then crash recovery."""
        began = time.monotonic()
        self._pg_ctl("restart", "-m", "immediate")
        return time.monotonic() - began

    def crash(self) -> None:
        """The machine gone at once: SIGKILL to the postmaster and every process it
        started (backends, WAL sender, WAL writer), no shutdown, no last WAL sent."""
        pid = self.postmaster_pid()
        assert pid is not None, "not running"
        children = [
            int(stat.parent.name)
            for stat in Path("/proc").glob("[0-9]*/stat")
            if _parent_of(stat) == pid
        ]
        for victim in (pid, *children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        self.crashed = True  # postmaster.pid stays behind: never signal its pid again
        deadline = time.monotonic() + 30
        while any(Path(f"/proc/{p}").exists() for p in (pid, *children)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"postmaster {pid} or a child still alive")
            time.sleep(0.02)

    def promote(self) -> float:
        """`pg_ctl promote -w`: a standby ends recovery and takes writes."""
        began = time.monotonic()
        self._pg_ctl("promote", options=False)
        return time.monotonic() - began

    def commits_after(self, lsn: str) -> int:
        """Commit records in this (stopped) cluster's WAL after `lsn`, as pg_waldump reads
        them: transactions it committed that a standby received only up to `lsn` lacks."""
        out = self._run(
            str(POSTGRES_BIN / "pg_waldump"),
            "-p",
            str(self.data / "pg_wal"),
            "-s",
            lsn,
            "-r",
            "Transaction",
            check=False,  # it reads up to the end of the WAL written, then says so
        )
        return sum(1 for line in out.splitlines() if "desc: COMMIT" in line)

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        if self.crashed or self.postmaster_pid() is None:
            return
        try:
            self._pg_ctl("stop", "-m", "immediate", options=False)
        except RuntimeError:
            pid = self.postmaster_pid()
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def _parent_of(stat: Path) -> int | None:
    try:
        # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def temporary_base(prefix: str) -> Path:
    """A directory every user can traverse (PostgreSQL runs as `postgres` in a subdirectory)."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    base.chmod(0o755)
    return base


def remove(base: Path) -> None:
    shutil.rmtree(base, ignore_errors=True)
