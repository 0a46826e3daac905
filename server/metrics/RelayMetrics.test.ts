import { afterEach, describe, expect, it, vi } from 'vitest';
import type { UserId } from '../../shared/ids';
import { removeDir, tempDataDir } from '../../test/fixtures/relayProcess';
import { DEFAULT_THROTTLE, LoginThrottle, accountScope, addressScope } from '../auth/LoginThrottle';
import { RelayFailure } from '../RelayFailure';
import { openStore } from '../openStore';
import type { SqliteRelayStore } from '../storage/sqlite/SqliteRelayStore';
import { RelayMetrics } from './RelayMetrics';
import { timedStore } from './TimedRelayStore';

const metricsOf = () => new RelayMetrics({ connectedDevices: () => 0, queuedEnvelopes: async () => 0 });

describe('the relay metrics', () => {
  let dir: string | undefined;
  let store: SqliteRelayStore | undefined;
  afterEach(async () => {
    await store?.close();
    if (dir) removeDir(dir);
    store = undefined;
    dir = undefined;
  });

  it('counts a throttled sign-in by what made it wait, which the client is not told', async () => {
    dir = tempDataDir();
    const now = Date.UTC(2026, 11, 3, 9);
    store = openStore(dir, { now: () => now });
    const throttle = new LoginThrottle(store, { now: () => now }, DEFAULT_THROTTLE);
    const account = accountScope('0b6c3f1e-3c1a-4b8e-9a55-2f1d3c4b5a69' as UserId);
    const address = addressScope('198.51.100.7');
    for (let i = 0; i < DEFAULT_THROTTLE.addressFreeFailures; i++) await store.recordLoginFailure([account, address], now - 100, []);
    const refusal = (scope: string) => throttle.check(scope).then(() => undefined, (e: unknown) => e as RelayFailure);
    const byAccount = await refusal(account);
    const byAddress = await refusal(address);
    expect(byAccount?.code).toBe('THROTTLED');
    expect(JSON.stringify(byAccount?.extra)).not.toMatch(/account|address/);

    const metrics = metricsOf();
    metrics.signInRefused('sign-in', byAccount as RelayFailure);
    metrics.signInRefused('sign-in', byAddress as RelayFailure);
    metrics.signInRefused('enrollment', new RelayFailure('INVALID_CODE', 'wrong code'));
    const text = await (await metrics.registry()).metrics();
    expect(text).toContain('rounds_relay_sign_ins_throttled_total{step="sign-in",reason="account"} 1');
    expect(text).toContain('rounds_relay_sign_ins_throttled_total{step="sign-in",reason="address"} 1');
    expect(text).toContain('rounds_relay_sign_ins_refused_total{step="enrollment",reason="invalid_code"} 1');
  });

  it('counts before anything scrapes it, and the registry served later has what was counted', async () => {
    let connected = 4;
    const metrics = new RelayMetrics({ connectedDevices: () => connected, queuedEnvelopes: async () => 7 });
    metrics.envelopes.accepted(3);
    metrics.envelopes.delivered(2);
    metrics.envelopes.accepted(1);
    const registry = await metrics.registry();
    // One registry, however often it is asked for (a second registration would throw).
    expect(await metrics.registry()).toBe(registry);
    const text = await registry.metrics();
    expect(text).toMatch(/^rounds_relay_envelopes_accepted_total 4$/m);
    expect(text).toMatch(/^rounds_relay_envelopes_delivered_total 2$/m);
    expect(text).toMatch(/^rounds_relay_connected_devices 4$/m);
    expect(text).toMatch(/^rounds_relay_queued_envelopes 7$/m);
    expect(text).toContain('# TYPE rounds_relay_sign_ins_refused_total counter');
    expect(text).toContain('process_cpu_seconds_total');
    // Gauges are read at each scrape; counters go on.
    connected = 1;
    metrics.envelopes.delivered(5);
    const later = await registry.metrics();
    expect(later).toMatch(/^rounds_relay_connected_devices 1$/m);
    expect(later).toMatch(/^rounds_relay_envelopes_delivered_total 7$/m);
  });

  it('keeps the last count of queued envelopes when the store does not answer in time', async () => {
    let answer: () => Promise<number> = async () => 12;
    const metrics = new RelayMetrics({ connectedDevices: () => 0, queuedEnvelopes: () => answer() });
    const registry = await metrics.registry();
    expect(await registry.metrics()).toMatch(/^rounds_relay_queued_envelopes 12$/m);
    answer = () => Promise.reject(new Error('database gone'));
    expect(await registry.metrics()).toMatch(/^rounds_relay_queued_envelopes 12$/m);
    // A store that never answers (a stalled database) holds the scrape for 2 s at most.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      answer = () => new Promise(() => undefined);
      const scrape = registry.metrics();
      await vi.advanceTimersByTimeAsync(2000);
      expect(await scrape).toMatch(/^rounds_relay_queued_envelopes 12$/m);
    } finally {
      vi.useRealTimers();
    }
  });

  it("times the store's calls by method, failed ones too, and leaves their results as they were", async () => {
    dir = tempDataDir();
    store = openStore(dir);
    const metrics = metricsOf();
    const timed = timedStore(store, metrics.storeSeconds);
    expect(await timed.listUsers()).toEqual([]);
    expect(await timed.listUsers()).toEqual([]);
    const failing = Object.assign(store, { userById: () => Promise.reject(new Error('disk on fire')) });
    await expect(timedStore(failing, metrics.storeSeconds).userById('x' as UserId)).rejects.toThrow('disk on fire');
    const text = await (await metrics.registry()).metrics();
    expect(text).toContain('rounds_relay_store_seconds_count{method="listUsers"} 2');
    expect(text).toContain('rounds_relay_store_seconds_count{method="userById"} 1');
  });
});
