"""Pages through every ticket of the first account with the unmodified zenpy client,
offset style (next_page) and cursor style (links.next, meta.has_more).

Usage: python3 zenpy_pages.py READY_FILE
Prints {"offset": [ids…], "cursor": [ids…]} as JSON.
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
offset = [ticket.id for ticket in client.tickets(cursor_pagination=False)]
cursor = [ticket.id for ticket in client.tickets(cursor_pagination=50)]
print(json.dumps({"offset": offset, "cursor": cursor}))
