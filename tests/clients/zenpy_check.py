"""Drives sharesim with the unmodified zenpy client: list and show sharing agreements.

Usage: python3 zenpy_check.py READY_FILE (after an agreement exists on the first account).
zenpy builds https://{subdomain}.{domain}/api/v2 URLs; ZENPY_FORCE_SCHEME=http and a
subdomain/domain split of 127.0.0.1:PORT point it at the local account unmodified.
"""
import json
import sys
from urllib.parse import urlparse

from zenpy import Zenpy

ready = json.load(open(sys.argv[1]))
account = ready["accounts"][0]
url = urlparse(account["api_url"])
first, rest = url.netloc.split(".", 1)
client = Zenpy(subdomain=first, domain=rest, email=account["admin_email"], token=account["api_token"])
agreements = list(client.sharing_agreements())
shown = client.sharing_agreements(id=agreements[0].id)
print(json.dumps({"count": len(agreements), "status": shown.status, "type": shown.type, "remote_subdomain": shown.remote_subdomain}))
