import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GENESIS_HASH, recordHash, type AuditRecord } from '../AuditRecord';
import { lastSeq } from './resumeAfterRestore';
import { JobLockLost } from '../../storage/exclusiveJob';
import { SiemCursorFile } from './SiemCursor';
import { SiemStream, type SiemSink, type StreamTimers } from './SiemStream';

/* The stream's promise, in virtual time: at least once, in order, from a durable cursor, whatever the receiver does. */

/** One-shot timers on a virtual clock; `advance` runs what falls due and lets the stream's promises settle between. */
function virtualTimers(): StreamTimers & { advance(ms: number): Promise<void> } {
  let now = 0;
  const jobs: { at: number; fn: () => void; done: boolean }[] = [];
  return {
    now: () => now,
    after: (ms, fn) => {
      const job = { at: now + ms, fn, done: false };
      jobs.push(job);
      return { cancel: () => (job.done = true) };
    },
    advance: async (ms) => {
      const end = now + ms;
      for (;;) {
        await settle();
        const next = jobs.filter((j) => !j.done && j.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!next) break;
        now = next.at;
        next.done = true;
        next.fn();
      }
      now = end;
      await settle();
    },
  };
}

const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
};

/** A chained log of `n` records, as the relay's store pages it. */
function auditLog(n: number) {
  const records: AuditRecord[] = [];
  const appendOne = (type: AuditRecord['type'], subject: string, details: AuditRecord['details']) => {
    const before = records.at(-1);
    const content = { seq: (before?.seq ?? 0) + 1, at: 1000, type, actor: 'system', subject, details, flagged: false, prevHash: before?.hash ?? GENESIS_HASH };
    records.push({ ...content, hash: recordHash(content) });
  };
  const append = (count: number, subject = 'u') => {
    for (let i = 0; i < count; i++) appendOne('login.success', subject, {});
  };
  append(n);
  return { records, append, appendOne, auditRecordsAfter: async (after: number, limit: number) => records.filter((r) => r.seq > after).slice(0, limit) };
}

/** A receiver that takes batches, or refuses them while `down`, noting when each attempt came. */
function receiver(timers: StreamTimers) {
  const state = { down: false, hang: false, accepted: [] as number[], attempts: [] as number[], batches: [] as number[][] };
  let abandon: ((error: Error) => void) | undefined;
  const sink: SiemSink = {
    destination: 'the test receiver',
    deliver: (records) => {
      state.attempts.push(timers.now());
      if (state.down) return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6514'));
      if (state.hang) return new Promise((_resolve, reject) => (abandon = reject));
      state.batches.push(records.map((r) => r.seq));
      state.accepted.push(...records.map((r) => r.seq));
      return Promise.resolve();
    },
    close: () => abandon?.(new Error('the relay is stopping')),
  };
  return { state, sink };
}

const PACING = { pollMs: 1000, maxRetryDelayMs: 4000, batchRecords: 5 };

describe('SiemStream', () => {
  const dirs: string[] = [];
  const cursorFile = () => {
    const dir = mkdtempSync(join(tmpdir(), 'rounds-siem-'));
    dirs.push(dir);
    return new SiemCursorFile(join(dir, 'siem-cursor'));
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('sends the log in order, a page at a time, and moves the durable cursor only past what was accepted', async () => {
    const timers = virtualTimers();
    const log = auditLog(12);
    const { state, sink } = receiver(timers);
    const cursor = cursorFile();
    const stream = new SiemStream(log, sink, cursor, PACING, timers, () => undefined);
    expect(await stream.start()).toBe(1);
    await timers.advance(0);
    expect(state.batches).toEqual([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [11, 12]]);
    expect(JSON.parse(readFileSync(cursor.path, 'utf8'))).toEqual({ seq: 12, hash: log.records[11]?.hash });
    log.append(3);
    await timers.advance(PACING.pollMs);
    expect(state.accepted).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    await stream.stop();
  });

  it('stops before its next batch once its lease is lost: the instance that streams now sends from the shared cursor', async () => {
    const timers = virtualTimers();
    const log = auditLog(7);
    const { state, sink } = receiver(timers);
    const lines: string[] = [];
    let mine = true;
    const cursor = cursorFile();
    const stream = new SiemStream(log, sink, cursor, PACING, timers, (line) => lines.push(line), async () => {
      if (!mine) throw new JobLockLost('siem-stream');
    });
    await stream.start();
    await timers.advance(0);
    expect(state.accepted).toEqual([1, 2, 3, 4, 5, 6, 7]);
    mine = false;
    log.append(4);
    await timers.advance(PACING.pollMs);
    await stream.finished;
    // Nothing more sent, the cursor where the receiver's last accepted batch left it, and the reason in the relay's log.
    expect(state.accepted).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(cursor.readNow().seq).toBe(7);
    expect(stream.lost).toBeInstanceOf(JobLockLost);
    expect(lines).toEqual([expect.stringMatching(/lock of the siem-stream job was lost.*records after 7 are for the instance that streams now/)]);
    await timers.advance(10 * PACING.pollMs);
    expect(state.attempts).toHaveLength(2);
  });

  it('holds one batch at a time, however long the backlog', async () => {
    const timers = virtualTimers();
    const log = auditLog(10_000);
    let largestRead = 0;
    const source = { auditRecordsAfter: (after: number, limit: number) => ((largestRead = Math.max(largestRead, limit)), log.auditRecordsAfter(after, limit)) };
    const { state, sink } = receiver(timers);
    const stream = new SiemStream(source, sink, cursorFile(), { ...PACING, batchRecords: 500 }, timers, () => undefined);
    await stream.start();
    await timers.advance(0);
    await settle();
    expect(stream.sentThrough).toBe(10_000);
    expect(largestRead).toBe(500);
    expect(Math.max(...state.batches.map((b) => b.length))).toBe(500);
    expect(state.batches).toHaveLength(20);
    await stream.stop();
  });

  it('loses nothing while the receiver is down: tries again after 1 s, 2 s, 4 s, 4 s, and says so once', async () => {
    const timers = virtualTimers();
    const log = auditLog(3);
    const { state, sink } = receiver(timers);
    const lines: string[] = [];
    const stream = new SiemStream(log, sink, cursorFile(), PACING, timers, (line) => lines.push(line));
    state.down = true;
    await stream.start();
    await timers.advance(0);
    log.append(4);
    await timers.advance(11_000);
    expect(state.attempts).toEqual([0, 1000, 3000, 7000, 11_000]);
    expect(state.accepted).toEqual([]);
    expect(lines).toEqual([expect.stringMatching(/cannot send to the test receiver: .*ECONNREFUSED.*records after 0 wait/)]);
    state.down = false;
    await timers.advance(4000);
    expect(state.accepted).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(lines[1]).toMatch(/accepts records again/);
    expect(stream.sentThrough).toBe(7);
    await stream.stop();
  });

  it('after a restart, sends from the cursor and nothing before it', async () => {
    const timers = virtualTimers();
    const log = auditLog(6);
    const cursor = cursorFile();
    const first = receiver(timers);
    const before = new SiemStream(log, first.sink, cursor, PACING, timers, () => undefined);
    await before.start();
    await timers.advance(0);
    await before.stop();
    log.append(4);
    const second = receiver(timers);
    const after = new SiemStream(log, second.sink, cursor, PACING, timers, () => undefined);
    expect(await after.start()).toBe(7);
    await timers.advance(0);
    expect(second.state.accepted).toEqual([7, 8, 9, 10]);
    await after.stop();
  });

  it('sends the whole log again when the record at its cursor is not the one sent (a restore from a backup)', async () => {
    const timers = virtualTimers();
    const sentLog = auditLog(8);
    const cursor = cursorFile();
    cursor.writeNow({ seq: 8, hash: sentLog.records[7]?.hash ?? '' });
    // Restored from a backup of records 1-5; records 6-7 are new ones, with other hashes.
    const restored = auditLog(5);
    restored.append(2, 'after the restore');
    const { state, sink } = receiver(timers);
    const lines: string[] = [];
    const stream = new SiemStream(restored, sink, cursor, PACING, timers, (line) => lines.push(line));
    expect(await stream.start()).toBe(1);
    await timers.advance(0);
    expect(state.accepted).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(lines[0]).toMatch(/does not hold record 8 as it was sent .*restored from a backup/);
    await stream.stop();
  });

  it('after a restore of its own log from a backup the SIEM had, goes on after the backup: the restore record and what follows', async () => {
    const timers = virtualTimers();
    const sentLog = auditLog(8);
    const cursor = cursorFile();
    cursor.writeNow({ seq: 8, hash: sentLog.records[7]?.hash ?? '' });
    const restored = auditLog(5);
    const restore = (replacedLog: string | null) => ({
      log: 'rounds.relay/abc-r1', backupFile: 'relay.age', backupCreatedAt: 1000, backupRecords: 5, backupHead: restored.records[4]?.hash ?? null,
      previousLog: 'rounds.relay/abc', previousFirstSeq: 1, previousCheckpointSize: null, previousCheckpointRoot: null, previousCheckpoint: null,
      lostFrom: null, lostTo: null, replacedLog, replacedCheckpoint: null,
    });
    restored.appendOne('audit.log_restored', '', restore(null));
    restored.append(1, 'after the restore');
    const { state, sink } = receiver(timers);
    const lines: string[] = [];
    const stream = new SiemStream(restored, sink, cursor, PACING, timers, (line) => lines.push(line));
    expect(await stream.start()).toBe(6);
    await timers.advance(0);
    expect(state.accepted).toEqual([6, 7]);
    expect(lines[0]).toMatch(/restored from a backup of its records 1-5, which were sent/);
    await stream.stop();

    // The directory held another log before the restore: its SIEM never had this one's records.
    const other = auditLog(5);
    other.appendOne('audit.log_restored', '', restore('rounds.relay/elsewhere'));
    cursor.writeNow({ seq: 8, hash: sentLog.records[7]?.hash ?? '' });
    const again = new SiemStream(other, sink, cursor, PACING, timers, () => undefined);
    expect(await again.start()).toBe(1);
    await again.stop();
  });

  it('finds the end of a log of any length with a few one-record reads', async () => {
    for (const n of [0, 1, 2, 7, 64, 1000]) {
      const log = auditLog(n);
      let reads = 0;
      const counted = { auditRecordsAfter: (after: number, limit: number) => (reads++, log.auditRecordsAfter(after, limit)) };
      expect(await lastSeq(counted)).toBe(n);
      expect(reads).toBeLessThanOrEqual(2 * Math.log2(n + 2) + 2);
    }
  });

  it('resends everything after the seq an operator wrote into the cursor', async () => {
    const timers = virtualTimers();
    const log = auditLog(9);
    const cursor = cursorFile();
    writeFileSync(cursor.path, '{"seq":6}\n');
    const { state, sink } = receiver(timers);
    const stream = new SiemStream(log, sink, cursor, PACING, timers, () => undefined);
    await stream.start();
    await timers.advance(0);
    expect(state.accepted).toEqual([7, 8, 9]);
    await stream.stop();
    writeFileSync(cursor.path, 'seven');
    expect(() => cursor.readNow()).toThrow(/write \{"seq":N\} into it/);
  });

  it('does not skip records to come when an operator wrote a cursor past the end of the log', async () => {
    const timers = virtualTimers();
    const log = auditLog(6);
    const cursor = cursorFile();
    writeFileSync(cursor.path, '{"seq":99}\n');
    const { state, sink } = receiver(timers);
    const lines: string[] = [];
    const stream = new SiemStream(log, sink, cursor, PACING, timers, (line) => lines.push(line));
    expect(await stream.start()).toBe(7);
    expect(lines[0]).toMatch(/says record 99 was sent, but the audit log ends at record 6: sending from record 7/);
    log.append(2, 'later');
    await timers.advance(PACING.pollMs);
    expect(state.accepted).toEqual([7, 8]);
    await stream.stop();
  });

  it('on stop, sends what was appended since the last poll; a receiver that hangs is given up after the grace period', async () => {
    const timers = virtualTimers();
    const log = auditLog(2);
    const { state, sink } = receiver(timers);
    const cursor = cursorFile();
    const stream = new SiemStream(log, sink, cursor, PACING, timers, () => undefined);
    await stream.start();
    await timers.advance(0);
    log.append(2);
    await stream.stop();
    expect(state.accepted).toEqual([1, 2, 3, 4]);

    const hanging = new SiemStream(log, sink, cursor, PACING, timers, () => undefined);
    await hanging.start();
    log.append(1);
    state.hang = true;
    await timers.advance(PACING.pollMs);
    const stopped = hanging.stop(2000);
    await timers.advance(2000);
    await stopped;
    expect(hanging.sentThrough).toBe(4);
    expect(JSON.parse(readFileSync(cursor.path, 'utf8'))).toMatchObject({ seq: 4 });
  });
});
