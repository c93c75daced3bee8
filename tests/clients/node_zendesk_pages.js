// Lists every ticket of the first account with the unmodified node-zendesk client, which
// asks for cursor pages (page[size]=100) and follows links.next until it is null.
// Usage: node node_zendesk_pages.js READY_FILE; prints {"ids": [...]} as JSON.
const fs = require('node:fs');
const zendesk = require('node-zendesk');

async function main() {
  const ready = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const account = ready.accounts[0];
  const client = zendesk.createClient({
    username: account.admin_email,
    token: account.api_token,
    endpointUri: account.api_url,
  });
  const tickets = await client.tickets.list();
  console.log(JSON.stringify({ ids: tickets.map((ticket) => ticket.id) }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
