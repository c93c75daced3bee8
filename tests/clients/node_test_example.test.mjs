// sharesim-fixtures driving node-zendesk against `sharesim serve` with node:test (run by
// tests/it/fixtures_kits.rs: SHARESIM_BIN=… node --test). The first test is the README's
// example, line for line.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import zendesk from 'node-zendesk';
import { StepFailed, useSharesim } from 'sharesim-fixtures';

const sim = useSharesim();
const client = (name) => { const a = sim.ready.account(name); return zendesk.createClient({ username: a.admin_email, token: a.api_token, endpointUri: a.api_url }); };

test('a partner that is down fails the invitation', async () => {
  await sim.control.steps({ fault: { account: 'globex', down: true } });
  const sent = (await client('acme').sharingagreement.create({ remote_subdomain: 'globex' })).result.sharing_agreement;
  assert.equal(sent.status, 'failed');
  assert.equal((await sim.control.verify({ surface: 'partner', outcome: 'failed', count: 1 })).passed, true);
});

test('the world is reset before each test', async () => {
  const listed = (await client('acme').sharingagreement.show()).result.sharing_agreements;
  assert.deepEqual(listed, []);
  const [acme] = await sim.control.accounts();
  assert.equal(acme.running, true);
  assert.deepEqual(acme.faults, []);
});

test('an accepted agreement, its journal, a snapshot restored after a reset', async () => {
  const acme = client('acme');
  const globex = client('globex');
  const sent = (await acme.sharingagreement.create({ remote_subdomain: 'globex' })).result.sharing_agreement;
  const inbound = (await globex.sharingagreement.show()).result.sharing_agreements[0];
  await globex.sharingagreement.update(inbound.id, { status: 'accepted' });
  const requests = await sim.control.journal({ surface: 'partner', kind: 'request' });
  assert.deepEqual(requests.map((e) => `${e.from}->${e.to} ${e.method}`), ['acme->globex POST', 'globex->acme PUT']);
  const snapshot = await sim.control.snapshot();
  await sim.control.reset();
  assert.deepEqual((await acme.sharingagreement.show()).result.sharing_agreements, []);
  await sim.control.restore(snapshot);
  assert.equal((await acme.sharingagreement.showById(sent.id)).result.sharing_agreement.status, 'accepted');
});

test('a failed step rejects with its message', async () => {
  await assert.rejects(sim.control.steps({ expect: { account: 'acme', count: 1 } }), StepFailed);
});
