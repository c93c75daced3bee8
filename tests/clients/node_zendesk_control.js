// The control API while a real client runs: node-zendesk creates an agreement while
// globex is down (failed), the test flips globex's certificate to `expired` through
// the control API, node-zendesk re-sends (ssl_error), the certificate is healed, and a
// second re-send is delivered (pending). Usage: node node_zendesk_control.js READY_FILE
// (run with NODE_EXTRA_CA_CERTS pointing at serve's CA file).
const fs = require('node:fs');
const zendesk = require('node-zendesk');

const ready = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

// Runs steps on the live world; throws unless every step passed.
async function control(steps) {
  const response = await fetch(`${ready.control_url}/steps`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${ready.control_token}`,
      'Content-Type': 'application/json',
    },
    body: JSON.stringify(steps),
  });
  const outcome = await response.json();
  if (!response.ok || !outcome.passed) {
    throw new Error(`control API: ${response.status} ${JSON.stringify(outcome)}`);
  }
  return outcome;
}

async function main() {
  const [acme, globex] = ready.accounts;
  const client = zendesk.createClient({
    username: acme.admin_email,
    token: acme.api_token,
    endpointUri: acme.api_url,
  });
  const statuses = {};
  await control([{ fault: { account: globex.subdomain, down: true } }]);
  const created = (await client.sharingagreement.create({ remote_subdomain: globex.subdomain }))
    .result.sharing_agreement;
  statuses.created = created.status;

  await control([
    { heal: { account: globex.subdomain } },
    { certificate: { account: globex.subdomain, mode: 'expired' } },
  ]);
  const resent = await client.sharingagreement.update(created.id, { status: 'pending' });
  statuses.resent_to_expired = resent.result.sharing_agreement.status;
  statuses.read_back = (await client.sharingagreement.showById(created.id)).result.sharing_agreement.status;

  await control([{ certificate: { account: globex.subdomain, mode: 'valid' } }]);
  const healed = await client.sharingagreement.update(created.id, { status: 'pending' });
  statuses.resent_after_heal = healed.result.sharing_agreement.status;
  statuses.inbound_on_globex = (await zendesk.createClient({
    username: globex.admin_email,
    token: globex.api_token,
    endpointUri: globex.api_url,
  }).sharingagreement.show()).result.sharing_agreements.map((a) => a.status);
  console.log(JSON.stringify(statuses));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
