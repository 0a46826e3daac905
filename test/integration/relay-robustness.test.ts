import fc from 'fast-check';
import { request as httpRequest } from 'node:http';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RelayErrorSchema } from '../../shared/wire/relay';
import { acknowledgeAll, newConversationId, textPayload } from '../fixtures/protocolHarness';
import { Clinician, RelayProcess, addUser, adminCli, openRelayDatabase, removeDir, tempDataDir } from '../fixtures/relayProcess';

const PASSWORD = 'correct horse battery staple 7';

/**
 * POSTs `body` (or, with `declareOnly`, only headers declaring its length) and resolves with the status
 * of the relay's first response, or 'closed' when the relay hung up before the upload finished (it may
 * answer 413 and close mid-upload; both are clean refusals).
 */
function postOversized(url: string, headers: Record<string, string>, length: number, declareOnly: boolean): Promise<number | 'closed'> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { method: 'POST', headers: { ...headers, 'content-length': String(length) } }, (res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      req.destroy();
    });
    req.on('error', () => setTimeout(() => resolve('closed'), 100)); // a response may already have resolved
    if (declareOnly) req.flushHeaders();
    else req.end(Buffer.alloc(length, 'x'));
  });
}

const text = (body: string) => textPayload(newConversationId(), body);

describe('relay robustness', () => {
  let dataDir: string;
  let relay: RelayProcess;
  let alice: Clinician;
  let bob: Clinician;

  beforeAll(async () => {
    dataDir = tempDataDir();
    relay = await RelayProcess.start(dataDir);
    alice = await Clinician.enroll(relay.url, 'alice', addUser(dataDir, 'alice', 'Dr. Alice Moreau'), PASSWORD);
    bob = await Clinician.enroll(relay.url, 'bob', addUser(dataDir, 'bob', 'Nurse Bob Okafor'), PASSWORD);
  });

  afterAll(async () => {
    await relay.stop();
    removeDir(dataDir);
  });

  it('kill -9 while messages are in flight loses no envelope the relay had accepted', async () => {
    // Bob is offline; Alice sends from several concurrent loops (so group commits hold many senders'
    // envelopes at once) while the relay is killed mid-stream.
    const accepted: string[] = [];
    const loop = async (n: number) => {
      for (let i = 0; i < 1000; i++) {
        try {
          accepted.push(...(await alice.send([bob.address.userId], text(`in flight ${n}.${i}`))));
        } catch {
          return; // the relay is gone
        }
      }
    };
    const sending = Promise.all([0, 1, 2, 3, 4].map(loop));
    while (accepted.length < 150) await new Promise((r) => setTimeout(r, 2));
    await relay.kill();
    await sending;
    const port = relay.port;
    relay = await RelayProcess.start(dataDir, [], port);

    await bob.connect();
    await bob.waitFor(accepted.length);
    const received = new Set(bob.received.map((m) => m.envelopeId));
    expect(accepted.filter((id) => !received.has(id as never))).toEqual([]);
    expect(bob.failures).toEqual([]);
    await bob.disconnect();
  });

  it('answers thousands of malformed, oversized and unauthenticated requests and frames with clear errors, and stays up', async () => {
    // Something queued beforehand must survive all of it.
    const [queuedId] = await alice.send([bob.address.userId], text('queued before the storm'));
    const endpoints = [['POST', '/v1/enroll/begin'], ['POST', '/v1/enroll/complete'], ['POST', '/v1/login'], ['POST', '/v1/login/emergency'], ['PUT', '/v1/keys'], ['POST', '/v1/messages'], ['GET', '/v1/keys/not-a-uuid'], ['GET', '/v1/nowhere']] as const;
    const statuses = new Map<number, number>();
    const credential = `Bearer ${alice.session.credential}`;
    await fc.assert(fc.asyncProperty(fc.constantFrom(...endpoints), fc.oneof(fc.jsonValue(), fc.string({ maxLength: 300 })), fc.boolean(), async ([method, path], body, authenticated) => {
      const response = await fetch(`${relay.url}${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...(authenticated ? { authorization: credential } : {}) },
        ...(method === 'GET' ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      expect(RelayErrorSchema.safeParse(await response.json()).success).toBe(true);
    }), { numRuns: 1500 });
    // Oversized: a body over the limit, and one envelope over the envelope limit.
    const json = { 'content-type': 'application/json', authorization: credential };
    expect(await postOversized(`${relay.url}/v1/messages`, json, 8 * 1024 * 1024, true)).toBe(413);
    expect([413, 'closed']).toContain(await postOversized(`${relay.url}/v1/messages`, json, 8 * 1024 * 1024, false));
    const bigEnvelope = { id: crypto.randomUUID(), type: 'whisper', recipient: bob.address, content: Buffer.alloc(300 * 1024).toString('base64') };
    const tooBig = await fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: credential }, body: JSON.stringify({ envelopes: [bigEnvelope] }) });
    expect(await tooBig.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    // A forged credential, and no credential, on the socket: refused before the upgrade.
    for (const headers of [{}, { authorization: `Bearer rd1.${bob.address.userId}.1.${'A'.repeat(43)}` }]) {
      const status = await new Promise<number>((resolve) => {
        const ws = new WebSocket(`${relay.url.replace('http', 'ws')}/v1/ws`, { headers });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => resolve(101));
      });
      expect(status).toBe(401);
    }
    // Garbage frames on an authenticated socket: an error frame each, and the socket stays open.
    const ws = new WebSocket(`${relay.url.replace('http', 'ws')}/v1/ws`, { headers: { authorization: credential } });
    await new Promise((resolve) => ws.once('open', resolve));
    const errors: string[] = [];
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as { type: string; code?: string };
      if (frame.type === 'error') errors.push(frame.code ?? '');
    });
    const frames = fc.sample(fc.oneof(fc.string({ maxLength: 200 }), fc.jsonValue().map((v) => JSON.stringify(v)), fc.constant('{"type":"ack","ids":["nope"]}'), fc.constant('{"type":"send","requestId":"1","envelopes":[]}')), 1500);
    for (const frame of frames) ws.send(frame);
    ws.send(Buffer.from([0, 1, 2, 3]), { binary: true });
    while (errors.length < frames.length + 1) await new Promise((r) => setTimeout(r, 20));
    expect(new Set(errors)).toEqual(new Set(['BAD_REQUEST']));
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();

    expect((await fetch(`${relay.url}/healthz`)).status).toBe(200);
    await bob.connect();
    await bob.waitFor(bob.received.length + 1);
    expect(bob.received.map((m) => m.envelopeId)).toContain(queuedId);
    await bob.disconnect();
  });

  it('a revoked device is disconnected at once, its queue deleted, its credential void, past an unknown control event', async () => {
    const bob2 = await Clinician.login(relay.url, 'bob', PASSWORD, 'Ward laptop');
    // Something is queued for the laptop while it is offline (Alice accepts Bob's new device first)...
    await expect(alice.send([bob.address.userId], text('for every device of Bob'))).rejects.toMatchObject({ code: 'IDENTITY_CHANGED' });
    expect(await acknowledgeAll(alice.core, bob.address.userId)).toBe(1);
    await alice.send([bob.address.userId], text('for every device of Bob'));
    const queuedFor = (deviceId: number) => {
      const db = openRelayDatabase(dataDir);
      try {
        return (db.prepare('SELECT count(*) AS n FROM envelopes WHERE recipient_user = $u AND recipient_device = $d').get({ u: bob.address.userId, d: deviceId }) as { n: number }).n;
      } finally {
        db.close();
      }
    };
    expect(queuedFor(bob2.address.deviceId)).toBe(1);
    // ...then it connects with a client that is slow to read, and is revoked.
    await bob2.connect();
    expect(bob2.connection?.open).toBe(true);
    // A newer relay sharing the database (an upgrade under way) records a kind of control event this one does not
    // know: it is skipped, and the revocation after it still applies.
    const db = openRelayDatabase(dataDir);
    try {
      db.prepare("INSERT INTO control_events (kind, user_id, device_id, at) VALUES ('a.kind.from.a.newer.relay', $u, NULL, $at)").run({ u: bob.address.userId, at: Date.now() });
    } finally {
      db.close();
    }
    const revoke = adminCli(['device', 'revoke', 'bob', String(bob2.address.deviceId), '--data', dataDir]);
    expect(revoke.status).toBe(0);
    const deadline = Date.now() + 3000;
    while (bob2.connection?.open && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(bob2.connection?.open).toBe(false);
    expect(queuedFor(bob2.address.deviceId)).toBe(0);
    await expect(bob2.relay.keyCount()).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    // Senders can no longer address it.
    const directory = (await alice.relay.directory()).users.find((u) => u.userId === bob.address.userId);
    expect(directory?.devices).not.toContain(bob2.address.deviceId);
  });

  it('detects any change to a stored audit record', async () => {
    expect(adminCli(['audit', 'check', '--data', dataDir]).stdout).toMatch(/audit log intact: \d+ records/);
    // An attacker with the database file and its key drops the append-only triggers and edits one record.
    const db = openRelayDatabase(dataDir);
    db.exec('DROP TRIGGER audit_log_no_update');
    db.exec(`UPDATE audit_log SET details = '{"username":"mallory"}' WHERE seq = 2`);
    db.close();
    const check = adminCli(['audit', 'check', '--data', dataDir]);
    expect(check.status).toBe(2);
    expect(check.stdout).toContain('BROKEN at record 2: content does not match its hash');
  });

  it('detects a deleted audit record', async () => {
    const copy = tempDataDir();
    try {
      const db = openRelayDatabase(dataDir);
      db.exec(`VACUUM INTO '${join(copy, 'relay.db')}'`);
      db.close();
      copyFileSync(join(dataDir, 'database.key'), join(copy, 'database.key'));
      const tampered = openRelayDatabase(copy);
      tampered.exec('DROP TRIGGER audit_log_no_delete');
      tampered.exec('DELETE FROM audit_log WHERE seq = 5');
      tampered.close();
      const check = adminCli(['audit', 'check', '--data', copy]);
      expect(check.status).toBe(2);
      expect(check.stdout).toMatch(/BROKEN at record (2|6)/);
    } finally {
      removeDir(copy);
    }
  });
});
