import { createServer, type AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../server/RelayConfig';
import { RelayServer } from '../../server/RelayServer';
import { openStore } from '../../server/openStore';
import type { SqliteRelayStore } from '../../server/storage/sqlite/SqliteRelayStore';
import { freePort } from '../fixtures/ports';
import { sample } from '../fixtures/prometheus';
import { newConversationId, textPayload } from '../fixtures/protocolHarness';
import { Clinician, RelayProcess, addUser, adminCli, removeDir, tempDataDir } from '../fixtures/relayProcess';

/*
 * Issue 17, operations: what a load balancer and the site's monitoring see of a relay instance. /readyz
 * tells the balancer whether to send it requests; Prometheus metrics come from a listener of their own, on
 * loopback unless told otherwise; the log is JSON lines with levels, a refused sign-in a warning.
 */

const PASSWORD = 'correct horse battery staple 7';

describe('/readyz: whether a load balancer should send this relay requests', () => {
  let dir: string;
  let store: SqliteRelayStore;
  let relay: RelayServer;
  let url: string;
  /** What the store says of itself (the PostgreSQL store: its database unreachable, its schema not this code's). */
  let storeSays: () => Promise<string | undefined>;

  beforeAll(async () => {
    dir = tempDataDir();
    store = openStore(dir);
    storeSays = store.notReady.bind(store);
    store.notReady = () => storeSays();
    relay = new RelayServer(store, DEFAULT_CONFIG, undefined, () => undefined);
    url = await relay.listen({ host: '127.0.0.1', port: 0 }, 'silent');
  });

  afterAll(async () => {
    await relay.close();
    removeDir(dir);
  });

  it('answers 200 {"ready":true} while the store can serve, beside /healthz', async () => {
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('answers 503 with the reason when the store cannot serve, and is ready again once it can', async () => {
    storeSays = async () => 'the database is unreachable';
    const refused = await fetch(`${url}/readyz`);
    expect(refused.status).toBe(503);
    expect(await refused.json()).toEqual({ ready: false, reason: 'the database is unreachable' });

    storeSays = async () => undefined;
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  });

  it('answers 503 when the store does not answer at all, instead of hanging the health check', async () => {
    storeSays = () => new Promise(() => undefined);
    const stalled = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(10_000) });
    expect(stalled.status).toBe(503);
    expect(await stalled.json()).toEqual({ ready: false, reason: 'the store did not answer within 2000 ms' });
    storeSays = async () => undefined;
  });
});

describe('the metrics listener of a relay in this process', () => {
  it('is on loopback, apart from the relay, and closes with it', async () => {
    const dir = tempDataDir();
    const relay = new RelayServer(openStore(dir), DEFAULT_CONFIG, undefined, () => undefined);
    try {
      await relay.listen({ host: '127.0.0.1', port: 0 }, 'silent');
      const metrics = await relay.listenMetrics('127.0.0.1', 0);
      expect(metrics).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      expect(await (await fetch(metrics)).text()).toContain('# TYPE rounds_relay_connected_devices gauge');
      await relay.close();
      await expect(fetch(metrics)).rejects.toThrow();
    } finally {
      await relay.close().catch(() => undefined);
      removeDir(dir);
    }
  });

  it('stops, saying why, when its metrics port is taken (not a relay that serves without them)', async () => {
    const dir = tempDataDir();
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as AddressInfo).port;
      await expect(RelayProcess.start(dir, ['--metrics-port', String(port)])).rejects.toThrow(/relay exited with 1: [\s\S]*the metrics listener could not start on 127\.0\.0\.1 port \d+: .*EADDRINUSE/);
    } finally {
      taken.close();
      removeDir(dir);
    }
  });

  it('takes --metrics-host only with --metrics-port, and says so', () => {
    const dir = tempDataDir();
    try {
      const refused = adminCli(['serve', '--data', dir, '--port', '0', '--metrics-host', '0.0.0.0']);
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toContain('--metrics-host needs --metrics-port');
    } finally {
      removeDir(dir);
    }
  });
});

describe('metrics and logs of a running relay (rounds-server serve --metrics-port)', () => {
  let dir: string;
  let relay: RelayProcess;
  let metricsPort: number;
  let stderr = '';
  const scrape = async () => {
    const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return response.text();
  };

  beforeAll(async () => {
    dir = tempDataDir();
    metricsPort = await freePort();
    relay = await RelayProcess.start(dir, ['--log-level', 'warn', '--metrics-port', String(metricsPort)]);
    relay.child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  });

  afterAll(async () => {
    await relay.stop();
    removeDir(dir);
  });

  it('serves the metrics on loopback only by default, apart from the relay', async () => {
    // The relay's own port has no /metrics; the metrics port has nothing else.
    expect((await fetch(`${relay.url}/metrics`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status).toBe(404);
    const text = await scrape();
    for (const name of ['rounds_relay_connected_devices', 'rounds_relay_envelopes_accepted_total', 'rounds_relay_envelopes_delivered_total', 'rounds_relay_queued_envelopes', 'rounds_relay_store_seconds', 'rounds_relay_sign_ins_throttled_total', 'rounds_relay_sign_ins_refused_total', 'process_cpu_seconds_total', 'nodejs_eventloop_lag_seconds']) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    // Bound to 127.0.0.1: not reachable on this machine's other addresses.
    const external = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    if (external) await expect(fetch(`http://${external}:${metricsPort}/metrics`, { signal: AbortSignal.timeout(3000) })).rejects.toThrow();
  });

  it('counts a send, its delivery and a refused sign-in; the refusal is a warning in the JSON log, without the password', async () => {
    const alice = await Clinician.enroll(relay.url, 'alice', addUser(dir, 'alice', 'Dr. Alice Moreau'), PASSWORD);
    const bob = await Clinician.enroll(relay.url, 'bob', addUser(dir, 'bob', 'Dr. Bob Tran'), PASSWORD);
    const before = await scrape();

    await bob.connect();
    await alice.send([bob.address.userId], textPayload(newConversationId(), 'bed 12: obs due'));
    const queued = await scrape();
    expect(sample(queued, 'rounds_relay_envelopes_accepted_total')).toBe(sample(before, 'rounds_relay_envelopes_accepted_total') + 1);
    expect(sample(queued, 'rounds_relay_connected_devices')).toBe(1);
    await bob.waitFor(1);
    // Delivered once acknowledged (the acknowledgement commits within a few milliseconds of arriving).
    await expect.poll(async () => sample(await scrape(), 'rounds_relay_envelopes_delivered_total'), { timeout: 5000 }).toBe(sample(before, 'rounds_relay_envelopes_delivered_total') + 1);
    expect(sample(await scrape(), 'rounds_relay_queued_envelopes')).toBe(0);
    expect(sample(await scrape(), 'rounds_relay_store_seconds_count', 'method="enqueue"')).toBeGreaterThan(0);

    const wrong = 'not the password at all 99';
    await expect(alice.relay.login('alice', wrong, '000000', { kind: 'existing', deviceId: alice.address.deviceId })).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' });
    const after = await scrape();
    const refused = (text: string) => sample(text, 'rounds_relay_sign_ins_refused_total', 'step="sign-in",reason="invalid_credentials"');
    expect(refused(after)).toBe(refused(before) + 1);

    await expect.poll(() => stderr, { timeout: 5000 }).toContain('"username":"alice"');
    const lines = stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const warning = lines.find((l) => l.username === 'alice' && l.code === 'INVALID_CREDENTIALS');
    expect(warning).toMatchObject({ level: 'warn', step: 'sign-in', address: '127.0.0.1', msg: 'sign-in refused: INVALID_CREDENTIALS' });
    expect(typeof warning?.time).toBe('string');
    expect(stderr).not.toContain(wrong);
    // At --log-level warn, no request lines (info).
    expect(lines.every((l) => l.level === 'warn' || l.level === 'error')).toBe(true);
    await bob.disconnect();
  });
});
