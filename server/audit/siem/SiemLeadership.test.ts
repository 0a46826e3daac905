import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AuditRecord } from '../AuditRecord';
import type { JobLease } from '../../storage/RelayStore';
import { SiemLeadership } from './SiemLeadership';
import type { SiemSink } from './SiemStream';

/* Taking turns at the SIEM stream (several relay instances on one database), with a store stand-in whose timing the test controls. */
describe('SiemLeadership', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const sink: SiemSink = { destination: 'the test receiver', deliver: async () => undefined, close: () => undefined };
  const pacing = { pollMs: 50, maxRetryDelayMs: 1000, batchRecords: 5 };
  const lease: JobLease = { assertHeld: async () => undefined };

  it('stops, and lets the process exit, when told to stop while its stream is still starting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rounds-siem-'));
    dirs.push(dir);
    let claimed: () => void = () => undefined;
    const store = {
      auditRecordsAfter: async (): Promise<AuditRecord[]> => [],
      withExclusiveJob: async <T>(_name: string, job: (l: JobLease) => Promise<T>) => ({ ran: true as const, value: await job(lease) }),
      // The shared cursor answers only when the test says so: stop() comes while the stream waits for it.
      claimSiemCursor: (_owner: string, seed: { seq: number }) => new Promise<{ seq: number }>((resolve) => (claimed = () => resolve(seed))),
      writeSiemCursor: async () => true,
    };
    const leadership = new SiemLeadership(store, sink, pacing, dir, () => undefined);
    const began: number[] = [];
    leadership.start((from) => began.push(from));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const stopped = leadership.stop(1000);
    claimed();
    await expect(Promise.race([stopped.then(() => 'stopped'), new Promise((resolve) => setTimeout(() => resolve('hung'), 2000))])).resolves.toBe('stopped');
    expect(leadership.streaming).toBe(false);
    expect(began).toEqual([]);
  });

  it('stands by while another instance holds the turn, says so once, and takes over when it is free', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rounds-siem-'));
    dirs.push(dir);
    let free = false;
    let tries = 0;
    const store = {
      auditRecordsAfter: async (): Promise<AuditRecord[]> => [],
      withExclusiveJob: async <T>(_name: string, job: (l: JobLease) => Promise<T>) => (tries++, free ? { ran: true as const, value: await job(lease) } : { ran: false as const }),
      claimSiemCursor: async (_owner: string, seed: { seq: number }) => seed,
      writeSiemCursor: async () => true,
    };
    const lines: string[] = [];
    const leadership = new SiemLeadership(store, sink, pacing, dir, (line) => lines.push(line), undefined, 30);
    const began: number[] = [];
    leadership.start((from) => began.push(from));
    // Several tries (every 30 ms), one line.
    await vi.waitFor(() => expect(tries).toBeGreaterThanOrEqual(3), { timeout: 5000 });
    expect(lines).toEqual([expect.stringContaining('another relay instance streams the audit log to the test receiver')]);
    free = true;
    await vi.waitFor(() => expect(began).toEqual([1]), { timeout: 5000 });
    // Once: its later tries (every 30 ms) do not start it again.
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(began).toEqual([1]);
    expect(leadership.streaming).toBe(true);
    await leadership.stop(100);
    expect(leadership.streaming).toBe(false);
  });
});
