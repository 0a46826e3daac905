import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildBundle, verifyBundle, type ExportedRecord, type Verdict } from '../../shared/audit/bundle';
import { GENESIS_HASH } from '../../shared/audit/recordChain';
import { recordHash } from './AuditRecord';
import { nodeAuditCrypto } from './auditCrypto';
import { openBundle, writeBundle } from './bundleFiles';
import { eventLinesOnThreads, lineCuts } from './eventLinesThreads';

const root = mkdtempSync(join(tmpdir(), 'rounds-lines-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const signer = { publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(), sign: (data: Uint8Array) => sign(null, data, privateKey) };

/** A relay log of `n` chained records, as the relay writes them. */
function log(n: number): ExportedRecord[] {
  const out: ExportedRecord[] = [];
  let prevHash = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const content = { seq, at: 1_764_000_000_000 + seq * 1000, type: 'envelope.accepted' as const, actor: `0c1f0a5e-3a2b-4c1d-9e8f-${String(seq % 50).padStart(12, '0')}.1`, subject: `f3c9a1e2-7b6d-4e5f-8a9b-${String(seq).padStart(12, '0')}`, details: { recipient: `0c1f0a5e-3a2b-4c1d-9e8f-${String((seq + 7) % 50).padStart(12, '0')}.2`, size: 512 + (seq % 700), type: 1 }, flagged: false, prevHash };
    const record = { ...content, hash: recordHash(content) };
    out.push(record);
    prevHash = record.hash;
  }
  return out;
}

let made = 0;
/** A signed bundle of the log in a directory of its own, its events.jsonl then changed by `edit` (lines without newlines). */
function bundle(records: readonly ExportedRecord[], edit: (lines: string[]) => string = (lines) => `${lines.join('\n')}\n`): string {
  const dir = join(root, `b${made++}`);
  writeBundle(dir, buildBundle(nodeAuditCrypto, { origin: 'rounds.relay/lines-test', range: { from: 0, to: 8.64e15, user: null }, all: records, selected: records, earlierSizes: [], signer, title: 'Rounds relay audit log', generatedAt: 1_764_000_000_000, rotations: [] }));
  const file = join(dir, 'events.jsonl');
  writeFileSync(file, edit(readFileSync(file, 'utf8').trimEnd().split('\n')));
  return dir;
}

/** The verdict of one pass, and of the same bundle checked on `threads` worker threads: they must be the same. */
function bothWays(dir: string, threads: number): { one: Verdict; many: Verdict } {
  const one = verifyBundle(nodeAuditCrypto, openBundle(dir));
  const onThreads = eventLinesOnThreads(dir, { minBytes: 0, threads });
  let started = 0;
  const many = verifyBundle(nodeAuditCrypto, openBundle(dir), {
    eventLines: (context) => {
      const lines = onThreads(context);
      if (lines) started++;
      return lines;
    },
  });
  // The threads did check the lines: a fall back to one pass would compare one pass with itself.
  expect(started).toBe(1);
  return { one, many };
}

/** A line changed in place without changing its length (so the cuts stay where they were): its prevHash, its hash recomputed. */
function relink(line: string): string {
  const record = JSON.parse(line) as ExportedRecord & { prevHash: string; hash: string };
  const prevHash = record.prevHash.replace(/^./, (c) => (c === 'a' ? 'b' : 'a'));
  const { hash: _hash, ...content } = { ...record, prevHash };
  return JSON.stringify({ actor: record.actor, at: record.at, details: record.details, flagged: record.flagged, hash: recordHash(content as never), prevHash, seq: record.seq, subject: record.subject, type: record.type });
}

const RECORDS = log(3000);

describe('rounds-audit verify of a big bundle on several threads (issue 15: a year in seconds)', () => {
  it('gives the verdict of one pass for an intact bundle and for every kind of damage, wherever the file is cut', { timeout: 180_000 }, () => {
    const cases: Record<string, string> = {
      intact: bundle(RECORDS),
      altered: bundle(RECORDS, (lines) => `${lines.map((l, i) => (i === 1700 ? l.replace('"size":', '"size":1') : l)).join('\n')}\n`),
      removed: bundle(RECORDS, (lines) => `${lines.filter((_, i) => i !== 1500 && i !== 999).join('\n')}\n`),
      swapped: bundle(RECORDS, (lines) => `${[...lines.slice(0, 2000), lines[2001], lines[2000], ...lines.slice(2002)].join('\n')}\n`),
      unreadable: bundle(RECORDS, (lines) => `${lines.map((l, i) => (i === 10 ? '{"seq":' : i === 2500 ? `{"x":"${'y'.repeat(70_000)}"}` : l)).join('\n')}\n`),
      truncated: bundle(RECORDS, (lines) => lines.join('\n').slice(0, -20)),
      // Nested deeper than a thread's stack takes (the single pass once threw; a worker's stack is larger).
      deep: bundle(RECORDS, (lines) => `${lines.map((l, i) => (i === 1234 ? l.replace('"details":{', `"details":{"deep":${'['.repeat(8000)}${']'.repeat(8000)},`) : l)).join('\n')}\n`),
      outsideTree: bundle(RECORDS, (lines) => `${[...lines, ...lines.slice(0, 3).map((l) => l.replace(/"seq":(\d+)/, (_, s: string) => `"seq":${Number(s) + 5000}`))].join('\n')}\n`),
      // Past 1,000 failures the reading stops: at the same line whichever way it is read.
      everyLine: bundle(RECORDS, (lines) => `${lines.map((l) => l.replace('"type":1', '"type":2')).join('\n')}\n`),
    };
    // Three threads cut near lines 1,000 and 2,000, where most of the damage is; the removed records under other cuts too.
    for (const [name, dir] of Object.entries(cases)) {
      for (const threads of name === 'removed' ? [2, 3, 7] : [3]) {
        const { one, many } = bothWays(dir, threads);
        expect({ name, threads, verdict: many }).toEqual({ name, threads, verdict: one });
        expect(one.ok).toBe(name === 'intact');
      }
    }
    expect(bothWays(cases.everyLine ?? '', 2).one.failures.length).toBeGreaterThan(1000);
    expect(bothWays(cases.deep ?? '', 2).one.failures).toContain('events.jsonl line 1235 is not a valid record');
  });

  it('reads lines that cross the reader\'s chunks whole (the chunks share one buffer)', () => {
    // Some 2.7 MB: lines cross the one-pass reader's 1 MiB chunks, and each thread's range crosses one too.
    const dir = bundle(log(8000));
    expect(statSync(join(dir, 'events.jsonl')).size).toBeGreaterThan(2 * (1 << 20));
    const { one, many } = bothWays(dir, 2);
    expect(one.failures).toEqual([]);
    expect(one.ok).toBe(true);
    expect(many).toEqual(one);
  });

  it('checks the link between the last record before a cut and the first after it', () => {
    const dir = bundle(RECORDS);
    const file = join(dir, 'events.jsonl');
    const cut = lineCuts(file, statSync(file).size, 3)[1] ?? 0;
    const text = readFileSync(file, 'utf8');
    const end = text.indexOf('\n', cut);
    writeFileSync(file, `${text.slice(0, cut)}${relink(text.slice(cut, end))}${text.slice(end)}`);
    const { one, many } = bothWays(dir, 3);
    const seq = (JSON.parse(text.slice(cut, end)) as ExportedRecord).seq;
    expect(one.failures).toContain(`hash chain broken at record ${seq}: it does not link to record ${seq - 1} (a record was replaced, removed or inserted)`);
    expect(many).toEqual(one);
  });

  it('checks the lines here, at once, when the worker file is missing (an install without it)', () => {
    const dir = bundle(log(50));
    const onThreads = eventLinesOnThreads(dir, { minBytes: 0, threads: 2, workerFile: new URL('./noSuchWorker.mjs', import.meta.url) });
    let elsewhere = 0;
    const verdict = verifyBundle(nodeAuditCrypto, openBundle(dir), {
      eventLines: (context) => {
        const lines = onThreads(context);
        if (lines) elsewhere++;
        return lines;
      },
    });
    expect(elsewhere).toBe(0);
    expect(verdict.failures).toEqual([]);
    expect(verdict.ok).toBe(true);
    // --threads always says so instead.
    const required = eventLinesOnThreads(dir, { minBytes: 1, required: true, workerFile: new URL('./noSuchWorker.mjs', import.meta.url) });
    expect(() => verifyBundle(nodeAuditCrypto, openBundle(dir), { eventLines: required })).toThrow(/noSuchWorker\.mjs is missing from this install: verify with --threads auto or never/);
  });
});
