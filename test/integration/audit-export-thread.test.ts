import Database from '@signalapp/sqlcipher';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SAMPLE_DIRECTORY, SAMPLE_VERIFICATION, ANNA, BEN } from '../../shared/audit/auditSample';
import { growAuditTree } from '../../server/audit/AuditTree';
import { loadOrCreateAuditKey } from '../../server/audit/auditKey';
import { AuditChainBroken, exportAudit, type RelayExportOptions } from '../../server/audit/exportAudit';
import { ReadoutThread } from '../../server/audit/readoutThread';
import { verifyPath } from '../../server/audit/verifyCli';
import { ExportReadout } from '../../shared/audit/exportReadout';
import { openStore } from '../../server/openStore';
import { titleUnless } from '../fixtures/skipReason';
import { useTempDirs } from '../fixtures/tempDirs';
import { tempDataDir } from '../fixtures/relayProcess';

/*
 * Issue 15 (a year in seconds): a big export describes its records (events.csv, report.html, people.json)
 * on a worker thread beside the one reading the database. It must write the very bundle the one-thread
 * export writes, and refuse what that one refuses.
 */

const dir = useTempDirs();
const NOW = Date.UTC(2026, 11, 2, 12);

/** A relay log of `n` records of several kinds, the tree kept as the relay keeps it. */
async function site(n: number): Promise<string> {
  const data = tempDataDir();
  const store = openStore(data);
  loadOrCreateAuditKey(data);
  const kinds = (i: number) => {
    const who = i % 3 === 0 ? ANNA : BEN;
    if (i % 17 === 0) return { type: 'login.failure' as const, actor: '', subject: who, details: { username: i % 2 ? 'asmith' : 'nobody', address: '10.0.0.7' }, flagged: i % 34 === 0 };
    if (i % 11 === 0) return { type: 'envelope.delivered' as const, actor: `${who}.1`, subject: `f3c9a1e2-7b6d-4e5f-8a9b-${String(i - 1).padStart(12, '0')}`, details: {} };
    if (i % 97 === 0) return { type: 'some.future_kind' as const, actor: `admin:ops`, subject: who, details: { zeta: 'last', alpha: 'first', count: i } };
    return { type: 'envelope.accepted' as const, actor: `${who}.1`, subject: `f3c9a1e2-7b6d-4e5f-8a9b-${String(i).padStart(12, '0')}`, details: { recipient: `${i % 2 ? ANNA : BEN}.2`, size: 500 + i, type: 1 } };
  };
  for (let i = 0; i < n; i += 1000) await store.appendAudit(Array.from({ length: Math.min(1000, n - i) }, (_, j) => kinds(i + j) as never));
  await growAuditTree(store);
  await store.close();
  return data;
}

async function exportWith(data: string, readout: 'here' | 'thread', extra: Partial<RelayExportOptions> = {}): Promise<string> {
  const out = join(dir(), readout);
  const store = openStore(data);
  try {
    await exportAudit(store, loadOrCreateAuditKey(data), { from: 0, to: 8.64e15, user: null, actor: 'test', directory: SAMPLE_DIRECTORY, now: NOW, out, readout, ...extra });
  } finally {
    await store.close();
  }
  return out;
}

const files = (bundle: string): string[] => readdirSync(bundle, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(bundle.length + 1)).sort();

describe('an audit export described on a thread of its own', () => {
  it('writes byte for byte the bundle the one-thread export writes, for the whole log and for one user', { timeout: 120_000 }, async () => {
    const data = await site(12_000);
    for (const extra of [{}, { user: ANNA, username: 'asmith' }]) {
      // Each export is audited (and remembered): each way starts from its own copy of the relay's data.
      const copy = dir();
      cpSync(data, copy, { recursive: true });
      const here = await exportWith(copy, 'here', extra);
      const thread = await exportWith(data, 'thread', extra);
      expect(files(thread)).toEqual(files(here));
      expect(files(thread)).toContain('events.csv');
      for (const name of files(thread)) expect({ name, same: readFileSync(join(thread, name)).equals(readFileSync(join(here, name))) }).toEqual({ name, same: true });
      expect(verifyPath(thread, {}).ok).toBe(true);
      expect(readFileSync(join(thread, 'events.csv'), 'utf8')).toContain('Dr. Anna Smith');
    }
  });

  it('refuses a record altered after the tree took it in, as the one-thread export does', { timeout: 60_000 }, async () => {
    const data = await site(3_000);
    const db = new Database(join(data, 'relay.db'));
    db.exec(`PRAGMA key = "x'${readFileSync(join(data, 'database.key'), 'utf8').trim()}'"`);
    db.exec('DROP TRIGGER IF EXISTS audit_log_no_update');
    db.exec(`UPDATE audit_log SET details = '{"recipient":"someone-else.2","size":1,"type":1}' WHERE seq = 2222`);
    db.close();
    for (const readout of ['here', 'thread'] as const) {
      await expect(exportWith(data, readout)).rejects.toThrow(AuditChainBroken);
      await expect(exportWith(data, readout)).rejects.toThrow(/broken at record 2222 \(altered after it was recorded in the log's tree\)/);
    }
  });

  it('exports records whose stored details are not byte for byte their line\'s (as the record read whole gives it)', { timeout: 60_000 }, async () => {
    const data = await site(500);
    const store = openStore(data);
    await store.appendAudit([{ type: 'audit.log_restored', actor: 'admin:ops', subject: '', details: { backup: { at: 5, file: 'b.tar' } } as never }]);
    await growAuditTree(store);
    await store.close();
    // Marked as if their details were the line's: nested ones, and a flat record's keys reordered (the same JSON).
    const db = new Database(join(data, 'relay.db'));
    db.exec(`PRAGMA key = "x'${readFileSync(join(data, 'database.key'), 'utf8').trim()}'"`);
    db.exec('DROP TRIGGER IF EXISTS audit_log_no_update');
    db.exec('UPDATE audit_log SET details_line = 1 WHERE seq = 501');
    db.exec(`UPDATE audit_log SET details = '{"type":1,"size":509,"recipient":"${ANNA}.2"}' WHERE seq = 10`);
    db.close();
    for (const readout of ['here', 'thread'] as const) {
      const out = await exportWith(data, readout);
      expect(verifyPath(out, {}).failures).toEqual([]);
      const lines = readFileSync(join(out, 'events.jsonl'), 'utf8').split('\n');
      expect(lines[9]).toContain(`"details":{"recipient":"${ANNA}.2","size":509,"type":1}`);
      expect(lines[500]).toContain('"details":{"backup":{"at":5,"file":"b.tar"}}');
    }
  });

  it('fails cleanly midway: nothing written after the refusal, nothing left on disk, no uncaught error', { timeout: 120_000 }, async () => {
    const data = await site(30_000);
    const db = new Database(join(data, 'relay.db'));
    db.exec(`PRAGMA key = "x'${readFileSync(join(data, 'database.key'), 'utf8').trim()}'"`);
    db.exec('DELETE FROM audit_tiles WHERE level = 0 AND idx = 110');
    db.close();
    const uncaught: unknown[] = [];
    const onError = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onError);
    try {
      await expect(exportWith(data, 'thread')).rejects.toThrow(/stored tree of its audit log is damaged \(the tree's tile tile\/0\/110 is missing or too short\), so nothing was signed/);
      await new Promise((resolve) => setTimeout(resolve, 1500));
    } finally {
      process.off('uncaughtException', onError);
    }
    expect(uncaught).toEqual([]);
    expect(existsSync(join(dir(), 'thread'))).toBe(false);
  });

  // Linux's /dev/full fails every write with ENOSPC: a disk that fills while the big files are written aside.
  const noFullDevice = !existsSync('/dev/full');
  it.skipIf(noFullDevice)(titleUnless('a disk that fills while events.csv is written fails the export, which is then not audited as done', noFullDevice ? 'this system has no /dev/full to stand for a full disk' : null), { timeout: 120_000 }, async () => {
    const data = await site(30_000);
    const out = join(dir(), 'thread');
    mkdirSync(out);
    symlinkSync('/dev/full', join(out, 'events.csv'));
    const uncaught: unknown[] = [];
    const onError = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onError);
    try {
      const store = openStore(data);
      try {
        await expect(exportAudit(store, loadOrCreateAuditKey(data), { from: 0, to: 8.64e15, user: null, actor: 'test', now: NOW, out, readout: 'thread' })).rejects.toThrow(/ENOSPC/);
      } finally {
        await store.close();
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      process.off('uncaughtException', onError);
    }
    expect(uncaught).toEqual([]);
    const store = openStore(data);
    try {
      expect(await store.auditRecordsAfter(0, 10, { types: ['audit.exported'] })).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('the readout thread itself: from the same lines, the CSV, report and people the readout here makes', { timeout: 60_000 }, async () => {
    const data = await site(3_000);
    const bundle = await exportWith(data, 'here');
    const text = readFileSync(join(bundle, 'events.jsonl'));
    // Chunks of whole lines, as the writer hands them over.
    const chunks: Uint8Array[] = [];
    for (let start = 0; start < text.length;) {
      const end = text.indexOf(10, Math.min(text.length - 1, start + 100_000)) + 1;
      chunks.push(text.subarray(start, end));
      start = end;
    }
    expect(chunks.length).toBeGreaterThan(3);
    const header = { origin: 'rounds.relay/test', range: { from: 0, to: 8.64e15, user: null }, title: 'Rounds relay audit log', generatedAt: NOW, directory: SAMPLE_DIRECTORY };
    const hereCsv: Uint8Array[] = [];
    const here = new ExportReadout(header, (bytes) => hereCsv.push(bytes.slice()));
    for (const chunk of chunks) here.lines(chunk);
    const threadCsv: Uint8Array[] = [];
    const thread = new ReadoutThread(header, (bytes) => threadCsv.push(bytes));
    try {
      for (const chunk of chunks) thread.lines(chunk);
      await thread.caughtUp();
      const { digests, ...fromThread } = await thread.finish(SAMPLE_VERIFICATION);
      expect(fromThread).toEqual(here.finish(SAMPLE_VERIFICATION));
      // The digest the bundle lists for events.csv: taken there, of the very bytes made.
      expect(Buffer.from(digests?.csv ?? []).toString('hex')).toBe(createHash('sha256').update(Buffer.concat(threadCsv)).digest('hex'));
    } finally {
      thread.close();
    }
    expect(Buffer.concat(threadCsv).equals(Buffer.concat(hereCsv))).toBe(true);
    expect(Buffer.concat(threadCsv).toString('utf8')).toContain('Dr. Anna Smith');
  });
});
