#!/usr/bin/env python3
"""A partner-protocol endpoint written from sharesim's README alone ("The partner
protocol"), with Python's standard library only. It stands in for a helpdesk bridged to
Zendesk: it answers invitations, takes shared tickets and pushes comments back, and it
sends its own invitations. The test suite federates it with `sharesim serve --partner`
and grades it with `sharesim conform`.

    readme_endpoint.py --ready-file FILE [--auto-accept] [--auto-reply] [--break RULE]

It listens on an ephemeral loopback port and writes {"sharing_url", "admin_url"} to
FILE once it listens. `/sharing/...` is the protocol; `/admin/...` lets a test act as
the endpoint's own users:

    POST /admin/invite  {"receiver_url", "name"?}    -> {"uuid", "status"}
    POST /admin/answer  {"uuid", "status"}           -> {"status"} (answered by the sender)
    POST /admin/comment {"ticket", "body"}           -> {"status"}
    GET  /admin/state                                -> agreements and tickets

`--break RULE` breaks one documented rule on purpose, so `sharesim conform` can be shown
to catch it (see BREAKS).
"""

import argparse
import hashlib
import json
import os
import secrets
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 2 * 1024 * 1024
TIME_FORMAT = "%Y-%m-%d %H:%M:%S %z"
STATUSES = {"pending", "accepted", "declined", "inactive"}
TICKET_STATUSES = {"new", "open", "pending", "hold", "solved", "closed"}

BREAKS = {
    "new-answers-200": "a new invitation is answered 200 instead of 201",
    "repeat-is-new": "a repeated invitation is answered 201, as if it were new",
    "other-key-accepted": "the same uuid with another access key is accepted",
    "ignore-uuid-mismatch": "a body uuid that differs from the path's is accepted",
    "accept-missing-fields": "an invitation without access_key or sender_url is accepted",
    "malformed-500": "a body that is not JSON is answered 500",
    "no-www-authenticate": "a missing token is answered 401 without WWW-Authenticate",
    "wrong-key-accepted": "a token with the wrong access key is accepted",
    "unknown-uuid-403": "an unknown agreement uuid is answered 403 instead of 404",
    "ignore-version": "an unsupported X-Ticket-Sharing-Version is accepted",
    "no-size-limit": "a body over 2 MiB is accepted",
    "patch-allowed": "PATCH is answered 200 instead of 405",
    "never-answers": "invitations are never answered",
    "answer-wrong-token": "answers carry a wrong access key",
    "answer-bad-shape": "answers carry no uuid and a capitalised status",
    "share-500": "a shared ticket is answered 500",
    "comment-422": "a pushed comment is answered 422",
    "repeat-comment-422": "a repeated comment (same uuid) is answered 422",
    "echo-comments": "received comments are pushed back as new ones",
    "status-422": "a pushed status is answered 422",
    "unshare-404": "an unshare is answered 404",
    "push-after-deactivation": "pushes over an inactive agreement are accepted",
    "unknown-ticket-200": "an update of an unknown ticket is answered 200",
    "reply-without-uuid": "pushed comments carry no uuid",
    "iso-times": "times are sent as ISO 8601 instead of the protocol's format",
    "deactivate-422": "a deactivation is answered 422",
}


def now():
    if BROKEN == "iso-times":
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return time.strftime(TIME_FORMAT, time.localtime())


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.agreements = {}  # uuid -> dict
        self.tickets = {}  # uuid -> dict
        self.counter = 0

    def next_id(self):
        self.counter += 1
        return self.counter


STATE = State()
BROKEN = None
OPTIONS = None
SHARING_URL = None


def send(method, url, token=None, body=None):
    """One protocol call; returns (status, text). Failures are (0, reason)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("X-Ticket-Sharing-Version", "1")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("X-Ticket-Sharing-Token", token)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return 0, str(error)


def token_of(agreement):
    key = agreement["access_key"]
    if BROKEN == "answer-wrong-token":
        key = "0" * 40
    return f"{agreement['uuid']}:{key}"


def partner_url(agreement):
    """Where the other side listens: the sender's URL if we received the agreement."""
    if agreement["direction"] == "inbound":
        return agreement["sender_url"]
    return agreement["receiver_url"]


def view(agreement):
    return {k: agreement[k] for k in ("uuid", "name", "sender_url", "receiver_url", "status")}


def answer_invitation(uuid, status):
    with STATE.lock:
        agreement = STATE.agreements[uuid]
        agreement["status"] = status
    body = {"uuid": uuid, "status": status}
    if BROKEN == "answer-bad-shape":
        body = {"status": status.capitalize()}
    return send("PUT", f"{agreement['sender_url']}/agreements/{uuid}", token_of(agreement), body)


def comment(text, uuid=None):
    return {
        "uuid": uuid or secrets.token_hex(20),
        "author": {"uuid": hashlib.sha1(b"bridge-agent").hexdigest(), "name": "Bridge agent", "role": "agent"},
        "body": text,
        "authored_at": now(),
        "public": True,
    }


def push_comment(ticket_uuid, text, uuid=None):
    with STATE.lock:
        ticket = STATE.tickets[ticket_uuid]
        agreement = STATE.agreements[ticket["agreement"]]
        new = comment(text, uuid)
        ticket["comments"].append(new)
    if BROKEN == "reply-without-uuid":
        new = dict(new)
        del new["uuid"]
    body = {"uuid": ticket_uuid, "comments": [new], "current_actor": new["author"]}
    return send("PUT", f"{partner_url(agreement)}/tickets/{ticket_uuid}", token_of(agreement), body)


def later(action, *args):
    """Acts after the current answer has gone out, as a person on that side would."""
    def run():
        time.sleep(0.05)
        action(*args)
    threading.Thread(target=run, daemon=True).start()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        if os.environ.get("ENDPOINT_LOG"):
            super().log_message(*args)

    # -- plumbing ---------------------------------------------------------------
    def reply(self, status, body=None, headers=()):
        data = b""
        content_type = "text/plain; charset=utf-8"
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            content_type = "application/json"
        elif body is not None:
            data = (body + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def dispatch(self):
        raw = self.body()
        path = self.path.split("?", 1)[0]
        if path.startswith("/admin/"):
            return self.admin(path, raw)
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "sharing" or parts[1] not in ("agreements", "tickets"):
            return self.reply(404, f"no such sharing endpoint {path}")
        if len(raw) > MAX_BODY and BROKEN != "no-size-limit":
            return self.reply(413, "the body is larger than 2 MiB")
        version = self.headers.get("X-Ticket-Sharing-Version")
        if version is not None and version != "1" and BROKEN != "ignore-version":
            return self.reply(412, "unsupported X-Ticket-Sharing-Version; this endpoint speaks 1")
        if parts[1] == "agreements":
            return self.agreements(parts[2], raw)
        return self.tickets(parts[2], raw)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = dispatch

    def parse(self, raw):
        try:
            value = json.loads(raw or b"{}")
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def authorized(self, uuid):
        """The agreement named by the token, or None once a refusal has been sent."""
        token = self.headers.get("X-Ticket-Sharing-Token")
        if token is None:
            headers = () if BROKEN == "no-www-authenticate" else (("WWW-Authenticate", "X-Ticket-Sharing"),)
            self.reply(401, "missing X-Ticket-Sharing-Token header", headers)
            return None
        token_uuid, _, key = token.partition(":")
        with STATE.lock:
            agreement = STATE.agreements.get(token_uuid)
        if agreement is None or (uuid is not None and token_uuid != uuid):
            self.reply(403 if BROKEN == "unknown-uuid-403" else 404, f"no agreement {token_uuid}")
            return None
        if key != agreement["access_key"] and BROKEN != "wrong-key-accepted":
            self.reply(403, "the access key is wrong")
            return None
        return agreement

    # -- agreements -------------------------------------------------------------
    def agreements(self, uuid, raw):
        method = self.command
        if method == "PATCH" and BROKEN == "patch-allowed":
            return self.reply(200, {"uuid": uuid})
        if method not in ("GET", "POST", "PUT"):
            return self.reply(405, f"method {method} is not allowed here", (("Allow", "GET, POST, PUT"),))
        if method == "GET":
            agreement = self.authorized(uuid)
            return agreement and self.reply(200, view(agreement))
        body = self.parse(raw)
        if body is None:
            return self.reply(500 if BROKEN == "malformed-500" else 400, "the body is not a JSON object")
        if method == "POST":
            return self.invitation(uuid, body)
        agreement = self.authorized(uuid)
        if agreement is None:
            return None
        if body.get("uuid", uuid) != uuid:
            return self.reply(422, "the body's uuid differs from the path's")
        status = body.get("status")
        if status not in STATUSES:
            return self.reply(422, f"status {status!r} is not a status")
        if status == "inactive" and BROKEN == "deactivate-422":
            return self.reply(422, "deactivation refused")
        with STATE.lock:
            current = agreement["status"]
            if current in ("declined", "inactive") and status != current:
                return self.reply(422, f"agreement is {current}: final")
            agreement["status"] = status
        return self.reply(200, view(agreement))

    def invitation(self, uuid, body):
        if body.get("uuid", uuid) != uuid and BROKEN != "ignore-uuid-mismatch":
            return self.reply(422, "the body's uuid differs from the path's")
        needed = [f for f in ("access_key", "sender_url", "name") if not body.get(f)]
        if needed and BROKEN != "accept-missing-fields":
            return self.reply(422, "an invitation needs " + ", ".join(needed))
        key = body.get("access_key") or ""
        if BROKEN != "accept-missing-fields" and (len(key) != 40 or any(c not in "0123456789abcdef" for c in key.lower())):
            return self.reply(422, "access_key must be 40 hexadecimal characters")
        if body.get("status", "pending") != "pending":
            return self.reply(422, "an invitation's status must be pending")
        with STATE.lock:
            existing = STATE.agreements.get(uuid)
            if existing is not None and BROKEN != "repeat-is-new":
                if existing["access_key"] != key and BROKEN != "other-key-accepted":
                    return self.reply(422, f"agreement {uuid} already exists with another access key")
                return self.reply(200, view(existing))
            agreement = {
                "uuid": uuid,
                "name": body.get("name", ""),
                "sender_url": body.get("sender_url", ""),
                "receiver_url": body.get("receiver_url") or SHARING_URL,
                "access_key": key,
                "status": "pending",
                "direction": "inbound",
            }
            STATE.agreements[uuid] = agreement
        self.reply(200 if BROKEN == "new-answers-200" else 201, view(agreement))
        if OPTIONS.auto_accept and BROKEN != "never-answers":
            later(answer_invitation, uuid, "accepted")

    # -- tickets ----------------------------------------------------------------
    def tickets(self, uuid, raw):
        method = self.command
        if method not in ("POST", "PUT", "DELETE"):
            return self.reply(405, f"method {method} is not allowed here", (("Allow", "POST, PUT, DELETE"),))
        agreement = self.authorized(None)
        if agreement is None:
            return None
        if agreement["status"] != "accepted" and BROKEN != "push-after-deactivation":
            return self.reply(403, f"agreement is {agreement['status']}: ticket calls need an accepted agreement")
        body = {} if method == "DELETE" else self.parse(raw)
        if body is None:
            return self.reply(400, "the body is not a JSON object")
        if body.get("uuid", uuid) != uuid:
            return self.reply(422, "the body's uuid differs from the path's")
        comments = body.get("comments") or []
        if any(not c.get("uuid") or not c.get("body") for c in comments):
            return self.reply(422, "every comment needs a uuid and a body")
        status = body.get("status")
        if status is not None and status not in TICKET_STATUSES:
            return self.reply(422, f"status {status!r} is not a ticket status")
        with STATE.lock:
            ticket = STATE.tickets.get(uuid)
            if method == "POST":
                if BROKEN == "share-500":
                    return self.reply(500, "cannot store shared tickets")
                created = ticket is None
                if created:
                    ticket = STATE.tickets[uuid] = {
                        "uuid": uuid, "agreement": agreement["uuid"], "subject": body.get("subject", ""),
                        "status": status or "open", "comments": [], "shared": True,
                    }
                self.merge(ticket, comments)
                self.reply(201 if created else 200, self.ticket_view(ticket))
                if created and OPTIONS.auto_reply:
                    later(push_comment, uuid, "Received, we are on it.")
                return None
            if ticket is None:
                if BROKEN == "unknown-ticket-200":
                    return self.reply(200, {"uuid": uuid})
                return self.reply(404, f"no ticket {uuid}")
            if method == "DELETE":
                if BROKEN == "unshare-404":
                    return self.reply(404, "no such share")
                ticket["shared"] = False
                return self.reply(200, self.ticket_view(ticket))
            if comments and BROKEN == "comment-422":
                return self.reply(422, "comments are not taken")
            if status and BROKEN == "status-422":
                return self.reply(422, "status changes are not taken")
            known = {c["uuid"] for c in ticket["comments"]}
            if BROKEN == "repeat-comment-422" and any(c["uuid"] in known for c in comments):
                return self.reply(422, "this comment was already received")
            fresh = self.merge(ticket, comments)
            if status:
                ticket["status"] = status
        self.reply(200, self.ticket_view(ticket))
        if BROKEN == "echo-comments":
            for c in fresh:
                later(push_comment, uuid, c["body"])

    @staticmethod
    def merge(ticket, comments):
        """Adds comments not seen before (by uuid); returns the new ones."""
        known = {c["uuid"] for c in ticket["comments"]}
        fresh = [c for c in comments if c["uuid"] not in known]
        ticket["comments"].extend(fresh)
        return fresh

    @staticmethod
    def ticket_view(ticket):
        return {"uuid": ticket["uuid"], "subject": ticket["subject"], "status": ticket["status"]}

    # -- the endpoint's own users -----------------------------------------------
    def admin(self, path, raw):
        body = self.parse(raw) or {}
        if path == "/admin/state":
            with STATE.lock:
                return self.reply(200, {"agreements": list(STATE.agreements.values()),
                                        "tickets": list(STATE.tickets.values())})
        if path == "/admin/invite":
            local = STATE.next_id()
            uuid = hashlib.sha1(f"{SHARING_URL}/agreements/{local}/{secrets.token_hex(8)}".encode()).hexdigest()
            agreement = {
                "uuid": uuid, "name": body.get("name", "Bridge @ Partner"), "sender_url": SHARING_URL,
                "receiver_url": body["receiver_url"], "access_key": secrets.token_hex(20),
                "status": "pending", "direction": "outbound",
            }
            with STATE.lock:
                STATE.agreements[uuid] = agreement
            invitation = dict(view(agreement), access_key=agreement["access_key"],
                              sync_tags=False, sync_custom_fields=False, allows_public_comments=True)
            status, text = send("POST", f"{agreement['receiver_url']}/agreements/{uuid}", None, invitation)
            return self.reply(200, {"uuid": uuid, "status": status, "answer": text})
        if path == "/admin/answer":
            status, text = answer_invitation(body["uuid"], body["status"])
            return self.reply(200, {"status": status, "answer": text})
        if path == "/admin/comment":
            status, text = push_comment(body["ticket"], body["body"])
            return self.reply(200, {"status": status, "answer": text})
        return self.reply(404, "no such admin call")


def main():
    global BROKEN, OPTIONS, SHARING_URL
    parser = argparse.ArgumentParser()
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--auto-accept", action="store_true")
    parser.add_argument("--auto-reply", action="store_true")
    parser.add_argument("--break", dest="broken", choices=sorted(BREAKS))
    OPTIONS = parser.parse_args()
    BROKEN = OPTIONS.broken
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    SHARING_URL = f"http://127.0.0.1:{port}/sharing"
    ready = {"sharing_url": SHARING_URL, "admin_url": f"http://127.0.0.1:{port}/admin"}
    temporary = OPTIONS.ready_file + ".tmp"
    with open(temporary, "w") as out:
        json.dump(ready, out)
    os.replace(temporary, OPTIONS.ready_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
