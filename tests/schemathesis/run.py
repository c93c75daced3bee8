"""Checks `sharesim serve`'s REST API against its own OpenAPI document with schemathesis.

Usage: python3 tests/schemathesis/run.py PATH_TO_SHARESIM

1. Starts `sharesim serve` and runs schemathesis over /api/v2 with every check, as an
   admin, then briefly as an agent (whose writes are refused 403).
2. Starts a second world with `--rate-limit 1` and runs a short schemathesis pass
   there too, so every operation is seen answering 429.
   Each operation is also called once directly on records that exist, and with a body
   that is not JSON (400), so that reaching a status does not depend on luck.
3. Reads both worlds' journals through the control API and fails unless every status
   the document declares for a REST operation was answered at least once.
Exits non-zero if schemathesis finds a problem or a documented status was never seen.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SHARESIM = os.path.abspath(sys.argv[1])
MAX_EXAMPLES = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "30")
SEED = os.environ.get("SCHEMATHESIS_SEED", "1")


def serve(folder, *args):
    ready = os.path.join(folder, "ready.json")
    process = subprocess.Popen(
        [SHARESIM, "serve", "--ready-file", ready, *args],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while not os.path.exists(ready):
        if process.poll() is not None or time.time() > deadline:
            sys.exit("run.py: sharesim serve did not start")
        time.sleep(0.05)
    with open(ready) as file:
        return process, json.load(file)


def control(ready, path):
    request = urllib.request.Request(
        ready["control_url"] + path,
        headers={"Authorization": "Bearer " + ready["control_token"]},
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def rest(api, method, path, body):
    """A REST call as acme's admin; returns the parsed answer (None when not JSON)."""
    import base64

    data = body.encode() if body else None
    request = urllib.request.Request(api + path, data=data, method=method)
    secret = base64.b64encode(b"admin@acme.test/token:sharesim-token").decode()
    request.add_header("Authorization", "Basic " + secret)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request) as response:
            text = response.read()
            return json.loads(text) if text else None
    except urllib.error.HTTPError:
        return None


def probe_every_operation(api):
    """Calls each REST operation once the way a client would, on records that exist:
    schemathesis finds most answers by itself, but whether its random ids hit a record
    (200, 204) is luck, and it only sends JSON (a body that is not JSON is a 400). These
    calls make the reachability check below independent of luck."""
    agreement = rest(api, "POST", "/sharing_agreements.json", '{"sharing_agreement": {"remote_subdomain": "globex"}}')
    ticket = rest(api, "POST", "/tickets", '{"ticket": {"subject": "probe", "comment": {"body": "probe"}}}')
    agreement_id = agreement["sharing_agreement"]["id"]
    ticket_id = ticket["ticket"]["id"]
    for path in ("/sharing_agreements", "/sharing_agreements.json", f"/sharing_agreements/{agreement_id}",
                 "/tickets", "/tickets.json", f"/tickets/{ticket_id}",
                 f"/tickets/{ticket_id}/comments", f"/tickets/{ticket_id}/comments.json",
                 f"/tickets/{ticket_id}/audits", f"/tickets/{ticket_id}/audits.json"):
        rest(api, "GET", path, "")
    rest(api, "POST", "/sharing_agreements", '{"sharing_agreement": {"remote_subdomain": "globex"}}')
    rest(api, "POST", "/tickets.json", '{"ticket": {"subject": "probe", "comment": {"body": "probe"}}}')
    rest(api, "PUT", f"/tickets/{ticket_id}", '{"ticket": {"status": "open"}}')
    # A stale safe_update (409) and a page size over the limit (400).
    rest(api, "PUT", f"/tickets/{ticket_id}", '{"ticket": {"status": "pending", "safe_update": true, "updated_stamp": "2000-01-01T00:00:00Z"}}')
    for path in ("/tickets", "/tickets.json"):
        rest(api, "GET", path + "?page[size]=1000", "")
        rest(api, "GET", path + "?per_page=2&page=1", "")
    # Ticket fields, settings and users, on records that exist.
    field = rest(api, "POST", "/ticket_fields", '{"ticket_field": {"type": "text", "title": "Probe"}}')
    rest(api, "POST", "/ticket_fields.json", '{"ticket_field": {"type": "text", "title": "Probe"}}')
    for path in ("/ticket_fields", "/ticket_fields.json"):
        rest(api, "POST", path, "{")
        rest(api, "GET", path, "")
    rest(api, "GET", f"/ticket_fields/{field['ticket_field']['id']}", "")
    for path in ("/account/settings", "/account/settings.json"):
        rest(api, "GET", path, "")
        rest(api, "PUT", path, '{"settings": {"ticket_sharing": {"decline_all_invites": false}}}')
        rest(api, "PUT", path, '{"settings": {"ticket_sharing": {"decline_all_invites": "yes"}}}')
        rest(api, "PUT", path, "{")
    rest(api, "GET", "/users/1", "")
    rest(api, "PUT", f"/sharing_agreements/{agreement_id}", "{")
    rest(api, "PUT", f"/tickets/{ticket_id}", "{")
    for path in ("/sharing_agreements", "/sharing_agreements.json", "/tickets", "/tickets.json"):
        rest(api, "POST", path, "{")
    rest(api, "PUT", f"/sharing_agreements/{agreement_id}", '{"sharing_agreement": {"status": "inactive"}}')
    rest(api, "DELETE", f"/sharing_agreements/{agreement_id}", "")


def journal(ready):
    """Every REST response the world answered, as (method, path, status)."""
    seen, since = [], 0
    while True:
        page = control(ready, f"/journal?surface=rest&kind=response&since={since}")
        seen += [(e["method"], e["path"], e["status"]) for e in page["events"]]
        since = page["next_since"]
        if not page["more"]:
            return seen


ALL_CHECKS = "all"
# In the rate-limited world every call is answered 429 before anything else (our model:
# refused calls count too), so checks about what a call would otherwise get do not apply.
RESPONSE_CHECKS = ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_headers_conformance", "response_schema_conformance",
])


def schemathesis(schema, origin, user, examples, checks=ALL_CHECKS):
    """Runs schemathesis from the schema's (temporary) folder, where it keeps its cache."""
    command = [
        "schemathesis", "--config-file", os.path.join(HERE, "schemathesis.toml"),
        "run", schema, "--url", origin,
        "--auth", f"{user}/token:sharesim-token",
        "--include-path-regex", "^/api/v2",
        "--checks", checks,
        "--max-examples", str(examples),
        "--seed", SEED,
    ]
    print("run.py:", " ".join(command), flush=True)
    return subprocess.run(command, cwd=os.path.dirname(schema)).returncode


def template(path, documented):
    for pattern, name in documented:
        if pattern.fullmatch(path):
            return name
    return None


def main():
    failed = False
    with tempfile.TemporaryDirectory() as folder:
        schema = os.path.join(folder, "openapi.json")
        with open(schema, "w") as file:
            subprocess.run([SHARESIM, "openapi"], stdout=file, check=True)
        with open(schema) as file:
            document = json.load(file)
        main_dir = os.path.join(folder, "main")
        os.mkdir(main_dir)
        world, ready = serve(main_dir)
        limited_dir = os.path.join(folder, "limited")
        os.mkdir(limited_dir)
        limited, limited_ready = serve(limited_dir, "--rate-limit", "1")
        try:
            origin = ready["accounts"][0]["api_url"].removesuffix("/api/v2")
            failed |= schemathesis(schema, origin, "admin@acme.test", MAX_EXAMPLES) != 0
            failed |= schemathesis(schema, origin, "agent@acme.test", 5) != 0
            probe_every_operation(ready["accounts"][0]["api_url"])
            # Every operation answers 429 once the allowance (1 call a minute) is spent.
            limited_origin = limited_ready["accounts"][0]["api_url"].removesuffix("/api/v2")
            failed |= schemathesis(schema, limited_origin, "admin@acme.test", 2, RESPONSE_CHECKS) != 0
            seen = journal(ready) + journal(limited_ready)
        finally:
            for process in (world, limited):
                process.terminate()
                process.wait()
    documented = []
    expected = set()
    for path, item in document["paths"].items():
        if not path.startswith("/api/v2"):
            continue
        pattern = re.compile(re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(path)))
        documented.append((pattern, path))
        for method, operation in item.items():
            if method == "parameters":
                continue
            for status in operation["responses"]:
                expected.add((method.upper(), path, int(status)))
    operations = {(method, path) for method, path, _ in expected}
    observed = set()
    for method, path, status in seen:
        name = template(path, documented)
        # Undocumented methods are answered 405; schemathesis checks those itself.
        if name and (method, name) in operations:
            observed.add((method, name, status))
    undocumented = sorted(o for o in observed if o not in expected)
    missing = sorted(expected - observed)
    print(f"run.py: {len(expected & observed)} of {len(expected)} documented (operation, status) pairs were answered")
    for method, path, status in undocumented:
        print(f"run.py: answered but not documented: {method} {path} {status}")
    for method, path, status in missing:
        print(f"run.py: documented but never answered: {method} {path} {status}")
    if failed:
        print("run.py: schemathesis found problems (see above)")
    sys.exit(1 if failed or missing or undocumented else 0)


main()
