// Drives sharesim with the unmodified node-zendesk client: acme invites globex, globex
// accepts, and both sides are read back. Usage: node node_zendesk_check.js READY_FILE
const fs = require('node:fs');
const zendesk = require('node-zendesk');

async function main() {
  const ready = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const [acme, globex] = ready.accounts;
  const client = (account) => zendesk.createClient({
    username: account.admin_email,
    token: account.api_token,
    endpointUri: account.api_url,
  });
  const a = client(acme);
  const g = client(globex);
  const created = await a.sharingagreement.create({ remote_subdomain: globex.subdomain.toUpperCase() });
  const sent = created.result.sharing_agreement;
  const inbound = (await g.sharingagreement.show()).result.sharing_agreements[0];
  const answered = await g.sharingagreement.update(inbound.id, { status: 'accepted' });
  const final = (await a.sharingagreement.showById(sent.id)).result.sharing_agreement;
  console.log(JSON.stringify({
    sent_status: sent.status,
    inbound_type: inbound.type,
    inbound_remote: inbound.remote_subdomain,
    answered_status: answered.result.sharing_agreement.status,
    final_status: final.status,
  }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
