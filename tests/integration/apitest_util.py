"""Helpers shared by the API's integration tests (api_auth.py, api_input.py, api_events.py).

Standard library only; every wait is bounded.
"""
import atexit
import json
import os
import resource
import select
import socket
import time


def rss_kb(pid):
    """VmRSS of a process, in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def raise_nofile(want):
    """Raise RLIMIT_NOFILE (soft, and hard when root) to at least `want`; returns the soft limit.
    Children (teld) inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    if hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            want = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def raw_connect(path, timeout=10.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def read_line(sock, buf=b"", timeout=10.0):
    """Read one line from sock; returns (line or None at EOF, rest)."""
    deadline = time.monotonic() + timeout
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no line within %.1f s" % timeout)
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return None, buf
        buf += chunk
    line, rest = buf.split(b"\n", 1)
    return line, rest


def request_line(method, params=None, id=1):
    msg = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        msg["params"] = params
    return json.dumps(msg).encode() + b"\n"


def wait_closed(sock, timeout=10.0):
    """Read until EOF (returns the bytes read) or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the connection stayed open for %.1f s" % timeout)
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


class AsUser:
    """A connection to teld from a child process running as another uid/gid/groups.

    The child sets its credentials (setgroups, setgid, setuid: irreversible, so a fork), then
    connects; the parent sends it one request at a time over a pipe and gets back teld's
    reply line.  Notifications teld sends meanwhile are skipped."""

    def __init__(self, path, uid, gid, groups=(), timeout=10.0):
        self.uid = uid
        cmd_r, cmd_w = os.pipe()
        res_r, res_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 0
            try:
                # only our two pipe ends: an inherited end of another AsUser's command
                # pipe would keep that child from seeing EOF when it is closed
                for fd in os.listdir("/proc/self/fd"):
                    if int(fd) > 2 and int(fd) not in (cmd_r, res_w):
                        try:
                            os.close(int(fd))
                        except OSError:
                            pass
                os.setgroups(list(groups))
                os.setgid(gid)
                os.setuid(uid)
                self._child(path, cmd_r, res_w, timeout)
            except BaseException as e:  # noqa: B902 - report anything, then exit
                try:
                    os.write(res_w, json.dumps({"child_error": repr(e)}).encode() + b"\n")
                except OSError:
                    pass
                code = 1
            os._exit(code)
        os.close(cmd_r)
        os.close(res_w)
        self.pid = pid
        self.cmd = os.fdopen(cmd_w, "wb", buffering=0)
        self.res = os.fdopen(res_r, "rb", buffering=0)
        self.rbuf = b""
        self.timeout = timeout
        self.next_id = 0
        hello = self._result()
        if "child_error" in hello:
            self.close()
            raise RuntimeError("child as uid %d: %s" % (uid, hello["child_error"]))

    @staticmethod
    def _child(path, cmd_r, res_w, timeout):
        s = raw_connect(path, timeout)
        os.write(res_w, b'{"connected":true}\n')
        cmds = os.fdopen(cmd_r, "rb", buffering=0)
        buf = b""
        cbuf = b""
        while True:
            while b"\n" not in cbuf:
                chunk = cmds.read(65536)
                if not chunk:
                    return
                cbuf += chunk
            req, cbuf = cbuf.split(b"\n", 1)
            want = json.loads(req)["id"]
            s.sendall(req + b"\n")
            while True:
                line, buf = read_line(s, buf, timeout)
                if line is None:
                    os.write(res_w, b'{"closed":true}\n')
                    break
                msg = json.loads(line)
                if "id" in msg and msg["id"] == want:
                    os.write(res_w, line + b"\n")
                    break

    def _result(self):
        deadline = time.monotonic() + self.timeout + 5
        while b"\n" not in self.rbuf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.res], [], [], left)[0]:
                raise TimeoutError("no answer from the child as uid %d" % self.uid)
            chunk = self.res.read(65536)
            if not chunk:
                raise ConnectionError("the child as uid %d is gone" % self.uid)
            self.rbuf += chunk
        line, self.rbuf = self.rbuf.split(b"\n", 1)
        return json.loads(line)

    def call(self, method, params=None):
        """The whole reply object: {"result": ...} or {"error": {...}}."""
        self.next_id += 1
        self.cmd.write(request_line(method, params, self.next_id))
        return self._result()

    def close(self):
        for f in (self.cmd, self.res):
            try:
                f.close()
            except OSError:
                pass
        for _ in range(100):
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return
            time.sleep(0.05)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)


_started = []


def track(teld):
    """Kill `teld` at exit if the test ends (passing, failing or raising) with it running, so
    that a broken test leaves no process behind."""
    _started.append(teld)
    return teld


def _kill_leftovers():
    for t in _started:
        proc = getattr(t, "proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


atexit.register(_kill_leftovers)


def sanitized(pid):
    """Whether the process runs under AddressSanitizer (its RSS then says little: shadow
    memory, quarantine): memory bounds are loosened accordingly."""
    try:
        with open("/proc/%d/maps" % pid) as f:
            return "libasan" in f.read()
    except OSError:
        return False
