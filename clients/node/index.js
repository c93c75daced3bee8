// node:test fixtures for `sharesim serve`: start it, read its ready file, steer it through
// its control API, and reset the world between tests. No dependencies (Node 18+: fetch).
//
//   import { useSharesim } from 'sharesim-fixtures';
//   const sim = useSharesim();            // before: start; beforeEach: reset; after: stop
//   test('…', async () => { await sim.control.steps({ fault: { account: 'globex', down: true } }); });
//
// The binary is `options.binary`, else $SHARESIM_BIN, else `sharesim` on PATH.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach } from 'node:test';

/** A refusal of the control API (its JSON error is in `body`). */
export class ControlError extends Error {
  constructor(status, body) {
    super(`${status}: ${JSON.stringify(body)}`);
    this.status = status;
    this.body = body;
  }
}

/** A step that ran and did not pass (its outcome is in `outcome`). */
export class StepFailed extends Error {
  constructor(outcome) {
    const failed = (outcome.steps || []).find((s) => !s.passed) || {};
    super(`step ${failed.step} (${failed.action}) failed: ${failed.message}; ${JSON.stringify(outcome)}`);
    this.outcome = outcome;
  }
}

/** A client of the control API: every call carries the bearer token. */
export class Control {
  constructor(url, token) {
    this.url = url.replace(/\/$/, '');
    this.token = token;
    // The journal goes on across resets: reads start after the last one by default.
    this.since = 0;
  }

  async call(method, route, body, query) {
    const search = query
      ? '?' + new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined)).toString()
      : '';
    const answer = await fetch(this.url + route + search, {
      method,
      headers: {
        Authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await answer.text();
    let parsed = text;
    try { parsed = text ? JSON.parse(text) : null; } catch { /* plain text */ }
    if (!answer.ok) throw new ControlError(answer.status, parsed);
    return parsed;
  }

  /** Runs scenario steps on the live world; throws StepFailed unless every step passed
   * (pass `{ check: false }` as the last argument to get the outcome either way). */
  async steps(...steps) {
    let check = true;
    const last = steps[steps.length - 1];
    if (last && Object.keys(last).length === 1 && 'check' in last) {
      check = last.check;
      steps = steps.slice(0, -1);
    }
    const outcome = await this.call('POST', '/steps', steps);
    if (check && !outcome.passed) throw new StepFailed(outcome);
    return outcome;
  }

  /** Every kept event matching the filters, oldest first, all pages; since the last reset
   * unless `filters.since` says otherwise. */
  async journal(filters = {}) {
    const events = [];
    let since = filters.since ?? this.since;
    for (;;) {
      const page = await this.call('GET', '/journal', undefined, { ...filters, since, limit: 1000 });
      events.push(...page.events);
      if (!page.more) return events;
      since = page.next_since;
    }
  }

  /** Counts matching events since the last reset: `{ count, passed, last_seq }`. */
  verify(filter) { return this.call('POST', '/verify', { since: this.since, ...filter }); }

  /** The whole world's state. */
  snapshot() { return this.call('GET', '/snapshot'); }

  /** Puts the world back as `snapshot` says. */
  restore(snapshot) { return this.call('PUT', '/snapshot', snapshot); }

  /** Empties every account, heals every fault, forgets every handle; returns the journal
   * sequence number that marks it. */
  async reset() {
    this.since = (await this.call('POST', '/reset')).seq;
    return this.since;
  }

  /** Every account with its state. */
  async accounts() { return (await this.call('GET', '/accounts')).accounts; }
}

/** The ready file's data, with `account(subdomain)`. */
export function readyData(data, folder) {
  const ready = { ...data };
  if (ready.ca_cert) ready.ca_cert = path.resolve(folder, ready.ca_cert);
  ready.account = (subdomain) => {
    const found = ready.accounts.find((a) => a.subdomain === subdomain);
    if (!found) throw new Error(`no account ${subdomain}; the world has ${ready.accounts.map((a) => a.subdomain).join(', ')}`);
    return found;
  };
  return ready;
}

/** Starts `sharesim serve ARGS` in a temporary folder; resolves once its ready file is
 * written: `{ ready, control, stop() }`. */
export async function startServe({ binary, args = ['acme', 'globex'], timeoutMs = 30000 } = {}) {
  const given = binary || process.env.SHARESIM_BIN || 'sharesim';
  // serve runs in a folder of its own: a relative path is the caller's.
  const program = given.includes(path.sep) ? path.resolve(given) : given;
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'sharesim-'));
  const readyPath = path.join(folder, 'ready.json');
  const child = spawn(program, ['serve', ...args, '--ready-file', readyPath], { cwd: folder, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  const deadline = Date.now() + timeoutMs;
  while (!fs.existsSync(readyPath)) { // written whole, once every listener is up
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill();
      throw new Error(`sharesim serve did not start: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const ready = readyData(JSON.parse(fs.readFileSync(readyPath, 'utf8')), folder);
  const control = new Control(ready.control_url, ready.control_token);
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(folder, { recursive: true, force: true });
  };
  return { ready, control, stop, process: child };
}

/** Registers node:test hooks: `before` starts serve, `beforeEach` resets the world,
 * `after` stops it. The returned object's `ready` and `control` are set once started. */
export function useSharesim(options = {}) {
  const fixture = { ready: null, control: null };
  let served;
  before(async () => {
    served = await startServe(options);
    fixture.ready = served.ready;
    fixture.control = served.control;
  });
  beforeEach(async () => { await fixture.control.reset(); });
  after(async () => { if (served) await served.stop(); });
  return fixture;
}
