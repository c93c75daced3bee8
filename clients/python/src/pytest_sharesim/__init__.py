"""Start `sharesim serve`, read its ready file, and steer it through its control API.

The pytest fixtures live in `pytest_sharesim.plugin`; what they hand out is defined here
and usable without pytest too:

    with Served.start("sharesim", ["acme", "globex"]) as served:
        served.control.steps({"fault": {"account": "globex", "status": 503}})
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

__all__ = ["Account", "Control", "ControlError", "Ready", "Served", "StepFailed"]


class ControlError(Exception):
    """The control API refused a call (its JSON error is in `.body`)."""

    def __init__(self, status, body):
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


class StepFailed(AssertionError):
    """A step ran and did not pass (its outcome is in `.outcome`)."""

    def __init__(self, outcome):
        failed = next((s for s in outcome.get("steps", []) if not s.get("passed")), {})
        super().__init__(f"step {failed.get('step')} ({failed.get('action')}) failed: "
                         f"{failed.get('message')}; {json.dumps(outcome)}")
        self.outcome = outcome


class Account(dict):
    """One account of the ready file: `api_url`, `sharing_url`, emails and token."""

    def basic_auth(self, user="admin"):
        """`(username, token)` for HTTP Basic as Zendesk wants it: `{email}/token`."""
        return (f"{self[user + '_email']}/token", self["api_token"])

    def zenpy(self, user="admin", **options):
        """A zenpy client for this account (zenpy must be installed)."""
        from zenpy import Zenpy

        url = urllib.parse.urlparse(self["api_url"])
        if url.scheme == "http":
            # zenpy builds https://{subdomain}.{domain}; it reads this at every call.
            os.environ["ZENPY_FORCE_SCHEME"] = "http"
        first, rest = url.netloc.split(".", 1)
        return Zenpy(subdomain=first, domain=rest, email=self[user + "_email"],
                     token=self["api_token"], **options)


class Ready(dict):
    """The ready file `serve` writes once every listener is up."""

    def account(self, subdomain):
        """The account named `subdomain`."""
        for account in self["accounts"]:
            if account["subdomain"] == subdomain:
                return Account(account)
        raise KeyError(f"no account {subdomain!r}; the world has "
                       + ", ".join(a["subdomain"] for a in self["accounts"]))


class Control:
    """A client of the control API: every call carries the bearer token."""

    def __init__(self, url, token, timeout=60):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        # The journal goes on across resets: reads start after the last one by default.
        self.since = 0

    def call(self, method, path, body=None, query=None):
        """One call; returns the decoded JSON answer or raises ControlError."""
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                text = answer.read().decode()
        except urllib.error.HTTPError as error:
            text = error.read().decode()
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = text
            raise ControlError(error.code, parsed) from None
        return json.loads(text) if text else None

    def steps(self, *steps, check=True):
        """Runs scenario steps on the live world (`POST /steps`). Raises StepFailed when
        one did not pass, unless `check=False`; returns the outcome."""
        outcome = self.call("POST", "/steps", list(steps))
        if check and not outcome.get("passed"):
            raise StepFailed(outcome)
        return outcome

    step = steps

    def journal(self, **filters):
        """Every kept event matching the filters (`account`, `surface`, `kind`, `method`,
        `path`, `status`, `outcome`, `detail`), oldest first, all pages; since the last
        reset unless `since` says otherwise."""
        events = []
        since = filters.pop("since", self.since)
        while True:
            page = self.call("GET", "/journal", query=dict(filters, since=since, limit=1000))
            events.extend(page["events"])
            if not page["more"]:
                return events
            since = page["next_since"]

    def verify(self, count=None, at_least=None, **filters):
        """Counts matching events since the last reset (`POST /verify`):
        `{"count", "passed", "last_seq"}`."""
        body = dict(filters)
        body.setdefault("since", self.since)
        if count is not None:
            body["count"] = count
        if at_least is not None:
            body["at_least"] = at_least
        return self.call("POST", "/verify", body)

    def snapshot(self):
        """The whole world's state (`GET /snapshot`)."""
        return self.call("GET", "/snapshot")

    def restore(self, snapshot):
        """Puts the world back as `snapshot` says (`PUT /snapshot`)."""
        return self.call("PUT", "/snapshot", snapshot)

    def reset(self):
        """Empties every account, heals every fault, forgets every handle (`POST /reset`);
        returns the journal sequence number that marks it."""
        self.since = self.call("POST", "/reset")["seq"]
        return self.since

    def accounts(self):
        """Every account with its state (`GET /accounts`)."""
        return self.call("GET", "/accounts")["accounts"]


def find_binary(explicit=None):
    """The sharesim binary: `explicit`, else $SHARESIM_BIN, else `sharesim` on PATH."""
    binary = explicit or os.environ.get("SHARESIM_BIN") or shutil.which("sharesim")
    if not binary:
        raise FileNotFoundError("sharesim is not on PATH; set SHARESIM_BIN or --sharesim-bin "
                                "(cargo build --release gives target/release/sharesim)")
    # serve runs in a folder of its own: a relative path is the caller's.
    return os.path.abspath(binary) if os.sep in binary else binary


class Served:
    """A running `sharesim serve` in a temporary folder."""

    def __init__(self, process, folder, ready):
        self.process = process
        self.folder = folder
        self.ready = ready
        self.control = Control(ready["control_url"], ready["control_token"])

    @classmethod
    def start(cls, binary="sharesim", args=(), timeout=30):
        """Starts `binary serve ARGS --ready-file …` and waits for the ready file."""
        folder = tempfile.mkdtemp(prefix="sharesim-")
        ready_path = os.path.join(folder, "ready.json")
        log = open(os.path.join(folder, "serve.log"), "w")
        process = subprocess.Popen([binary, "serve", *args, "--ready-file", ready_path],
                                   cwd=folder, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not os.path.exists(ready_path):  # written whole, once every listener is up
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                with open(os.path.join(folder, "serve.log")) as out:
                    raise RuntimeError(f"sharesim serve did not start: {out.read()}")
            time.sleep(0.02)
        with open(ready_path) as out:
            ready = Ready(json.load(out))
        if ready.get("ca_cert"):
            ready["ca_cert"] = os.path.join(folder, ready["ca_cert"])
        return cls(process, folder, ready)

    def stop(self):
        """SIGTERM, then wait; the folder is removed."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.stop()
