"""A throwaway OpenSSH sshd on 127.0.0.1 serving SFTP, for tests of the SFTP transport.

    server = SftpServer(tmp_path).start()
    SftpTransport(**server.connect_kwargs(), local_quarantine_root=tmp_path / "q")
    ...
    server.stop()

Keys (host and client) are generated for each server and live in its folder. sshd forks a process per
connection that outlives its listener, so `stop()` is a full outage: it stops accepting first (the listener is
frozen, so it forks no new session), then ends every session it made, then the listener itself; a client that
reconnects in a loop gets no session in between (issue 21: killing the sessions before the listener let a busy
client's reconnection outlive the "outage").
"""
from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> tuple[list[int], list[int]]:
    """The direct children of `pid` and their descendants (Linux /proc): sshd's per-connection processes call
    setsid(), so a process group signal does not reach them."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry.name))
    direct = parents.get(pid, [])
    deeper, todo = [], list(direct)
    while todo:
        for child in parents.get(todo.pop(), []):
            deeper.append(child)
            todo.append(child)
    return direct, deeper


def _kill(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (not yet reaped by its parent) is as good as gone
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def keygen(path: Path, key_type: str = "ed25519", passphrase: str = "") -> Path:
    """A new key pair at `path` (private) and `path`.pub, in OpenSSH format."""
    path.unlink(missing_ok=True)
    Path(f"{path}.pub").unlink(missing_ok=True)
    extra = ["-b", "2048"] if key_type == "rsa" else []
    subprocess.run(["ssh-keygen", "-q", "-t", key_type, *extra, "-N", passphrase, "-C", path.name, "-f", str(path)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return path


class SftpServer:
    def __init__(self, tmpdir: Path | str):
        if not os.access(SSHD, os.X_OK):
            raise RuntimeError(f"{SSHD} not found: run `make test`, which installs openssh-server")
        self.dir = Path(tmpdir) / "sshd"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.root = self.dir / "exchange"  # the exchange root the clients are given (an absolute path)
        self.root.mkdir(exist_ok=True)
        self.port = _free_port()
        self.user = pwd.getpwuid(os.geteuid()).pw_name
        self.host_key = self.dir / "host_ed25519"
        self.client_key = self.dir / "client_ed25519"
        self.authorized_keys = self.dir / "authorized_keys"
        self.known_hosts = self.dir / "known_hosts"
        self.config = self.dir / "sshd_config"
        self.log = self.dir / "sshd.log"
        self.proc: subprocess.Popen | None = None
        keygen(self.host_key)
        keygen(self.client_key)
        self.authorized_keys.write_text(Path(f"{self.client_key}.pub").read_text())
        self.host_key_line = "[127.0.0.1]:{} {}".format(
            self.port, " ".join(Path(f"{self.host_key}.pub").read_text().split()[:2]))
        self.known_hosts.write_text(self.host_key_line + "\n")
        self.config.write_text("\n".join([
            "ListenAddress 127.0.0.1",
            f"Port {self.port}",
            f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "StrictModes no",  # pytest's tmp folders are not what sshd expects of a home directory
            "UsePAM no",
            "UseDNS no",
            "PrintMotd no",
            f"PidFile {self.dir / 'sshd.pid'}",
            "Subsystem sftp internal-sftp",
            f"AllowUsers {self.user}",
            "LogLevel ERROR",
            "",
        ]))

    def add_client_key(self, name: str, key_type: str = "ed25519", passphrase: str = "") -> Path:
        """Another client key the server accepts (ecdsa, rsa, with a passphrase...)."""
        path = keygen(self.dir / name, key_type, passphrase)
        with self.authorized_keys.open("a") as fh:
            fh.write(Path(f"{path}.pub").read_text())
        return path

    def connect_kwargs(self) -> dict:
        """The connection arguments of `exchange.sftp.SftpTransport` for this server."""
        return {"host": "127.0.0.1", "port": self.port, "username": self.user, "key_path": self.client_key,
                "known_hosts": self.known_hosts, "root": str(self.root)}

    def start(self, timeout: float = 10) -> "SftpServer":
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)  # the privilege separation dir
        check = subprocess.run([SSHD, "-t", "-f", str(self.config)], capture_output=True, text=True)
        if check.returncode:
            raise RuntimeError(f"sshd rejects its test configuration: {check.stderr.strip()}")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as probe:
                    # Read the banner and say goodbye properly, so sshd does not log an aborted key exchange.
                    probe.recv(256)
                    probe.sendall(b"SSH-2.0-readiness-probe\r\n")
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"sshd did not listen on port {self.port}") from None
                time.sleep(0.05)

    def _end_connections(self) -> None:
        # Killed at once, as a network failure would end them (the orphans are reaped by init).
        direct, deeper = _descendants(self.proc.pid)
        _kill(direct + deeper, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in direct + deeper) and time.monotonic() < deadline:
            time.sleep(0.02)

    def drop_connections(self) -> None:
        """Cut every open SSH connection, as a network failure would; the listener stays."""
        if self.proc is not None:
            self._end_connections()

    def _freeze_sessions(self) -> list[int]:
        """SIGSTOP every process of the listener's tree until no new one appears (a session being set up may
        fork its privilege-separated child meanwhile); a stopped process forks nothing, so the list is complete."""
        seen: set[int] = set()
        while True:
            direct, deeper = _descendants(self.proc.pid)
            new = [pid for pid in direct + deeper if pid not in seen]
            if not new:
                return sorted(seen)
            _kill(new, signal.SIGSTOP)
            seen.update(new)

    def stop(self) -> None:
        """A full outage: from the first instant no new session starts, and when this returns none is left."""
        if self.proc is None:
            return
        # Stop accepting first: a frozen listener forks no session (a connection waits unanswered in the kernel's
        # backlog, and is refused when the listener dies below).
        _kill([self.proc.pid], signal.SIGSTOP)
        sessions = self._freeze_sessions()
        _kill([self.proc.pid, *sessions], signal.SIGKILL)
        self.proc.wait(5)
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in sessions) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.proc = None

    def restart(self) -> "SftpServer":
        """The same port and keys: to a client, the server went away and came back."""
        self.stop()
        return self.start()

    def __enter__(self) -> "SftpServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
