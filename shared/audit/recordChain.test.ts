import { hash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonicalJson';
import { ChainChecker, GENESIS_HASH, canonicalRecord, recordHash, relayRecordLine, type ChainedRecord } from './recordChain';
import type { Hash } from './merkle';

/** The chain problems of records held in memory, as the verifier finds them reading a bundle. */
function chainProblems(hash: Hash, records: readonly object[], required: boolean): string[] {
  const checker = new ChainChecker(hash, required);
  for (const record of records as readonly Readonly<Record<string, unknown>>[]) checker.add(record);
  return checker.problems();
}

const sha256 = (data: Uint8Array) => hash('sha256', data, 'buffer');
const relayRecordHash = (record: ChainedRecord) => hash('sha256', canonicalRecord(record), 'hex');

/** A chain of n relay records, as the relay writes them. */
function chain(n: number): (ChainedRecord & { hash: string })[] {
  const out: (ChainedRecord & { hash: string })[] = [];
  let prevHash = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const content = { seq, at: 1_700_000_000_000 + seq, type: 'login.success', actor: `u${seq}.1`, subject: `u${seq}`, details: { z: 1, a: 'x' }, flagged: false, prevHash };
    const record = { ...content, hash: relayRecordHash(content) };
    out.push(record);
    prevHash = record.hash;
  }
  return out;
}

describe('the relay audit hash chain, as rounds-audit verify checks it', () => {
  it('is SHA-256 over the canonical record: the verifier recomputes the hash the relay stored', () => {
    for (const r of chain(5)) {
      const { hash: stored, ...content } = r;
      expect(recordHash(sha256, content)).toBe(stored);
    }
    expect(chainProblems(sha256, chain(5), true)).toEqual([]);
  });

  it('names a record whose content no longer matches its hash, and one that does not link to its predecessor', () => {
    const edited = chain(5);
    edited[2] = { ...edited[2]!, actor: 'mallory.1' };
    expect(chainProblems(sha256, edited, true)).toEqual(['hash chain broken at record 3: its content does not match its hash (the record was altered)']);
    // Record 3 replaced by one that hashes correctly but does not follow record 2.
    const replaced = chain(5);
    const { hash: _old, ...content } = { ...replaced[2]!, prevHash: 'f'.repeat(64) };
    replaced[2] = { ...content, hash: relayRecordHash(content) };
    expect(chainProblems(sha256, replaced, true)).toEqual([
      'hash chain broken at record 3: it does not link to record 2 (a record was replaced, removed or inserted)',
      'hash chain broken at record 4: it does not link to record 3 (a record was replaced, removed or inserted)',
    ]);
  });

  it('checks a one-user export record by record, and links only where seq numbers are consecutive', () => {
    const all = chain(8);
    const someone = [all[1]!, all[2]!, all[5]!, all[7]!];
    expect(chainProblems(sha256, someone, true)).toEqual([]);
    expect(chainProblems(sha256, [all[1]!, { ...all[2]!, flagged: true }, all[5]!], true)).toEqual(['hash chain broken at record 3: its content does not match its hash (the record was altered)']);
  });

  it('requires the chain of a relay log, and leaves logs without one (a workstation\'s) to the Merkle proofs', () => {
    const bare = [{ seq: 1, at: 1, type: 'unlock', details: {} }];
    expect(chainProblems(sha256, bare, false)).toEqual([]);
    expect(chainProblems(sha256, bare, true)).toEqual(['record 1 does not carry a well-formed hash chain (seq, at, type, actor, subject, details, flagged, prevHash, hash)']);
  });

  it('calls a hash that is not lowercase hex malformed, even one that is the right digest in capitals', () => {
    const records = chain(4);
    records[1] = { ...records[1]!, hash: records[1]!.hash.toUpperCase() };
    records[2] = { ...records[2]!, hash: records[2]!.hash.slice(1) };
    const malformed = (seq: number) => `record ${seq} does not carry a well-formed hash chain (seq, at, type, actor, subject, details, flagged, prevHash, hash)`;
    expect(chainProblems(sha256, records, true)).toEqual([malformed(2), malformed(3)]);
    expect(chainProblems(sha256, [records[0]!, { ...records[1]!, hash: 7 }], false)).toEqual([malformed(2)]);
  });

  it('lists the first ten problems and counts the rest', () => {
    const rewritten = chain(30).map((r) => ({ ...r, subject: 'x' }));
    const problems = chainProblems(sha256, rewritten, true);
    expect(problems).toHaveLength(11);
    expect(problems[0]).toMatch(/record 1:/);
    expect(problems[10]).toBe('... and 20 more records whose hash chain does not hold');
  });
});

describe('the fast canonical forms', () => {
  it('are byte for byte the generic ones, whatever the order of details and whatever they hold', () => {
    const samples: Record<string, unknown>[] = [{}, { b: 1, a: 'x' }, { a: null, z: true, m: 'é"\\\n\u2028' }, { nested: { y: 1, x: [2, { d: 1, c: 0 }] }, a: 1 }, { recipient: 'u.1', size: 512, type: 1 }, { a: 1, a1: 2, B: 3 }];
    for (const details of samples) {
      const record = { seq: 7, at: 1764680000123, type: 'envelope.accepted', actor: 'a"b.1', subject: 's\u0000', details, flagged: true, prevHash: '0'.repeat(64), hash: 'f'.repeat(64) };
      const sortedTop = Object.fromEntries(Object.entries(details).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      expect(canonicalRecord(record)).toBe(JSON.stringify([7, record.at, record.type, record.actor, record.subject, sortedTop, true, record.prevHash]));
      expect(relayRecordLine(record)).toBe(canonicalJson(record));
    }
  });

  it('sort details whose keys look like numbers as the chain always has (JavaScript lists those first)', () => {
    const record = { seq: 7, at: 1, type: 't', actor: 'a', subject: 's', details: { '10': 1, '9': 2, a: 3 }, flagged: false, prevHash: '0'.repeat(64) };
    expect(canonicalRecord(record)).toBe(`[7,1,"t","a","s",{"9":2,"10":1,"a":3},false,"${record.prevHash}"]`);
  });
});
