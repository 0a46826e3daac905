import { createHash, createPublicKey, generateKeyPairSync, hash, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AuditCrypto, AuditSigner, ExportedRecord } from './bundle';
import { noteKeyId, signCheckpoint } from './checkpoint';
import { GENESIS_HASH, recordHash, relayRecordLine } from './recordChain';
import { followRestore, formatConsistency, logFamily, restoreDetails, rotationOrigin, type PreviousBundleView, type RememberedCheckpoint } from './restoreLink';
import { TileTree, tilesInMemory } from './tiles';

const OLD = 'rounds.relay/0123456789abcdef';
const NEW = 'rounds.relay/0123456789abcdef-r1a2b3c4d';
const crypto: AuditCrypto = {
  sha256: (data) => hash('sha256', data, 'buffer'),
  sha256Stream: () => createHash('sha256'),
  verify: (pem, data, signature) => verify(null, data, createPublicKey(pem), signature),
  rawPublicKey: (pem) => Buffer.from(createPublicKey(pem).export({ format: 'jwk' }).x ?? '', 'base64url'),
};
const key = (): AuditSigner => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(), sign: (data) => sign(null, data, privateKey) };
};
const signer = key();

/** A chain of `n` records from `prevHash` onwards, numbered from `first`. */
function chain(n: number, first = 1, prevHash = GENESIS_HASH, tag = 'a'): ExportedRecord[] {
  const out: ExportedRecord[] = [];
  for (let seq = first; seq < first + n; seq++) {
    const content = { seq, at: 1_700_000_000_000 + seq, type: 'login.success', actor: 'u.1', subject: tag, details: {}, flagged: false, prevHash };
    const h = recordHash(crypto.sha256, content);
    out.push({ ...content, hash: h });
    prevHash = h;
  }
  return out;
}

/** A checkpoint of `size` records with a root made from `seed` (the roots are only compared here), signed by `by`. */
function checkpoint(size: number, seed: number, by = signer, origin = OLD): { root: Uint8Array; note: string; remembered: RememberedCheckpoint } {
  const root = new Uint8Array(32).fill(seed);
  const note = signCheckpoint({ origin, size, root, extensions: [] }, origin, noteKeyId(crypto.sha256, origin, crypto.rawPublicKey(by.publicKeyPem) ?? new Uint8Array()), (b) => by.sign(b));
  return { root, note, remembered: { size, root: Buffer.from(root).toString('base64'), note } };
}

function previousBundle(records: readonly ExportedRecord[], signed: ReturnType<typeof checkpoint>): PreviousBundleView {
  return { checkpoint: { origin: OLD, size: records.length, root: signed.root }, note: signed.note, publicKeyPem: signer.publicKeyPem, firstSeq: 1, recordAt: (seq) => records.find((r) => r.seq === seq) ?? null };
}

/** The new log's first record, after a backup of the first `backupRecords` of `log`. */
function restoreRecord(log: readonly ExportedRecord[], backupRecords: number, last: RememberedCheckpoint | null, overrides: Record<string, unknown> = {}): ExportedRecord {
  const head = log[backupRecords - 1]?.hash as string;
  const details = { ...restoreDetails({ log: NEW, backup: { file: 'relay-2026-12-01.age', createdAt: 1_700_000_000_000, records: backupRecords, head }, previous: { origin: OLD, firstSeq: 1, checkpoint: last }, replaced: null }), ...overrides };
  const content = { seq: backupRecords + 1, at: 1_800_000_000_000, type: 'audit.log_restored', actor: 'admin:ops', subject: '', details, flagged: true, prevHash: head };
  return { ...content, hash: recordHash(crypto.sha256, content) };
}

describe('following a restore from an older bundle to a newer one', () => {
  it('names the records the restore lost: those after the backup that the previous log had signed', () => {
    // The scenario: a backup of 48 records, an export of 50, a restore.
    const log = chain(50);
    const signed = checkpoint(50, 7);
    const start = restoreRecord(log, 48, signed.remembered);
    expect(start.details).toMatchObject({ lostFrom: 49, lostTo: 50, backupRecords: 48, previousCheckpointSize: 50 });
    const link = followRestore(crypto, previousBundle(log, signed), { origin: NEW, firstSeq: 49, logStart: start });
    expect(link.failures).toEqual([]);
    expect(link.restored).toBe(true);
    expect(link.notes[0]).toMatch(/^restored from a backup: records 49\.\.50 of the previous log were lost/);
    expect(link.notes.join('\n')).not.toMatch(/rewritten/);
  });

  it('counts what the relay remembers signing after the older bundle too', () => {
    const log = chain(50);
    const later = checkpoint(60, 9);
    const link = followRestore(crypto, previousBundle(log, checkpoint(50, 7)), { origin: NEW, firstSeq: 49, logStart: restoreRecord(log, 48, later.remembered) });
    expect(link.failures).toEqual([]);
    expect(link.notes[0]).toMatch(/^restored from a backup: records 49\.\.60 of the previous log were lost/);
  });

  it('says so when the backup held every signed record', () => {
    const log = chain(50);
    const signed = checkpoint(50, 7);
    const link = followRestore(crypto, previousBundle(log, signed), { origin: NEW, firstSeq: 51, logStart: restoreRecord(log, 50, signed.remembered) });
    expect(link.failures).toEqual([]);
    expect(link.notes[0]).toMatch(/^restored from a backup taken at the end of the previous log as it was signed \(50 records\): no signed records were lost/);
    // A relay that had signed nothing yet names no checkpoint: the older bundle's is the bound.
    const none = followRestore(crypto, previousBundle(log.slice(0, 40), checkpoint(40, 3)), { origin: NEW, firstSeq: 51, logStart: restoreRecord(log, 50, null) });
    expect(none.failures).toEqual([]);
    expect(none.notes[0]).toMatch(/no signed records were lost/);
  });

  it('fails a newer log that does not start with a restore of the older one', () => {
    const log = chain(50);
    const signed = checkpoint(50, 7);
    const previous = previousBundle(log, signed);
    expect(followRestore(crypto, previous, { origin: NEW, firstSeq: 1, logStart: null }).failures).toEqual([`the previous bundle is from another log (${OLD})`]);
    const other = restoreRecord(log, 48, signed.remembered, { previousLog: 'rounds.relay/ffffffffffffffff' });
    expect(followRestore(crypto, previous, { origin: NEW, firstSeq: 49, logStart: other }).failures).toEqual([`the previous bundle is from another log (${OLD})`]);
    const malformed = restoreRecord(log, 48, signed.remembered, { backupRecords: 'many' });
    expect(followRestore(crypto, previous, { origin: NEW, firstSeq: 49, logStart: malformed }).failures[0]).toMatch(/another log .*malformed/);
  });

  it('catches a restore record that lies about the backup, the log it starts or the last checkpoint', () => {
    const log = chain(50);
    const signed = checkpoint(50, 7);
    const previous = previousBundle(log, signed);
    const check = (start: ExportedRecord, current: Partial<{ origin: string; firstSeq: number }> = {}) => followRestore(crypto, previous, { origin: NEW, firstSeq: 49, ...current, logStart: start }).failures.join('\n');
    // A backup that is not a prefix of the previous log (another chain of the same length).
    const forged = chain(50, 1, GENESIS_HASH, 'b');
    expect(check(restoreRecord(forged, 48, signed.remembered))).toMatch(/not a copy of the previous log: its record 48 differs/);
    // A head that the restore record does not link to.
    expect(check(restoreRecord(log, 48, signed.remembered, { backupHead: log[10]?.hash }))).toMatch(/does not link to the backup's last record/);
    expect(check(restoreRecord(log, 48, signed.remembered), { origin: 'rounds.relay/elsewhere' })).toMatch(/starts the log .* not this bundle's/);
    expect(check(restoreRecord(log, 48, signed.remembered), { firstSeq: 40 })).toMatch(/restore record is record 49, but this log starts at record 40/);
    // The same size with another root: the previous log contradicted itself.
    expect(check(restoreRecord(log, 48, checkpoint(50, 8).remembered))).toMatch(/two checkpoints of 50 records with different roots/);
    const elsewhere = checkpoint(55, 8, signer, 'rounds.relay/ffffffffffffffff');
    expect(check(restoreRecord(log, 48, { ...elsewhere.remembered }))).toMatch(/last checkpoint of the previous log is for another log/);
    // A checkpoint no key of the previous log signed is reported, not trusted.
    const unsigned = followRestore(crypto, previous, { origin: NEW, firstSeq: 49, logStart: restoreRecord(log, 48, checkpoint(55, 8, key()).remembered) });
    expect(unsigned.notes.join('\n')).toMatch(/did not sign .*not checked/);
  });

  it('follows a restore from a log that an earlier restore had started', () => {
    // Log A: records 1..40; a backup at 40; a restore started log L1 at 41 (exported up to 45); the same backup restored again.
    const log = chain(45);
    const l1 = 'rounds.relay/0123456789abcdef-rfeedbeef';
    const l1Checkpoint = checkpoint(5, 4, signer, l1);
    const previous: PreviousBundleView = { checkpoint: { origin: l1, size: 5, root: l1Checkpoint.root }, note: l1Checkpoint.note, publicKeyPem: signer.publicKeyPem, firstSeq: 41, recordAt: (seq) => log.slice(40).find((r) => r.seq === seq) ?? null };
    const start = restoreRecord(log, 40, null, { replacedLog: l1, replacedCheckpoint: l1Checkpoint.note });
    const link = followRestore(crypto, previous, { origin: NEW, firstSeq: 41, logStart: start });
    expect(link.failures).toEqual([]);
    expect(link.notes[0]).toMatch(/^restored from a backup: records 41\.\.45 of the previous log were lost/);
  });

  describe('the backup restored, against the previous bundle\'s tree', () => {
    /** The Merkle tree of records, each leaf its events.jsonl line, as the relay builds it. */
    const treeOf = (records: readonly ExportedRecord[]) => {
      const memory = tilesInMemory(crypto.sha256, records.map((r) => new TextEncoder().encode(relayRecordLine(r as unknown as Parameters<typeof relayRecordLine>[0]))));
      return { tree: new TileTree(crypto.sha256, memory.size, memory.source), source: memory.source };
    };
    /** A bundle of `records` signed at their size, with its tiles (proof version 2) or without (version 1). */
    const bundleOf = (records: readonly ExportedRecord[], tiles = true): PreviousBundleView => {
      const { tree } = treeOf(records);
      const root = tree.root();
      const signed = signCheckpoint({ origin: OLD, size: records.length, root, extensions: [] }, OLD, noteKeyId(crypto.sha256, OLD, crypto.rawPublicKey(signer.publicKeyPem) ?? new Uint8Array()), (b) => signer.sign(b));
      return { checkpoint: { origin: OLD, size: records.length, root }, note: signed, publicKeyPem: signer.publicKeyPem, firstSeq: 1, recordAt: (seq) => records.find((r) => r.seq === seq) ?? null, ...(tiles ? { rootAt: (n: number) => tree.root(n) } : {}) };
    };
    /** The restore record of a backup holding `backup`, with its tree and proofs from the sizes the relay remembers signing. */
    const restoreOf = (backup: readonly ExportedRecord[], rememberedSizes: readonly number[]) => {
      const { tree } = treeOf(backup);
      const proofs = new Map(rememberedSizes.filter((n) => n <= tree.size).map((n) => [n, tree.consistencyProof(n)]));
      return restoreRecord(backup, backup.length, null, { backupSize: tree.size, backupRoot: Buffer.from(tree.root()).toString('base64'), consistency: formatConsistency(proofs) });
    };
    const follow = (previous: PreviousBundleView, start: ExportedRecord) => followRestore(crypto, previous, { origin: NEW, firstSeq: start.seq, logStart: start });
    const REWRITTEN = /not an extension of the previous bundle's log: records were rewritten before the restore/;
    /** The log with record 3 rewritten and the chain hashed again after it (what an insider with the database can do). */
    const whitewashed = (n: number) => [...chain(2), ...chain(n - 2, 3, chain(2)[1]?.hash as string, 'someone-else')];

    it('passes a backup this relay made, before or after the previous bundle', () => {
      const log = chain(60);
      // The backup is larger than the bundle: the restore record's consistency proof shows it extends it.
      const larger = follow(bundleOf(log.slice(0, 50)), restoreOf(log, [50]));
      expect(larger.failures).toEqual([]);
      expect(larger.notes.join('\n')).not.toMatch(/could not be checked|does not carry/);
      // The bundle is larger than the backup: the bundle's own tiles give its root at the backup's size.
      const smaller = follow(bundleOf(log.slice(0, 55)), restoreOf(log.slice(0, 48), [20]));
      expect(smaller.failures).toEqual([]);
      expect(smaller.notes[0]).toMatch(/records 49\.\.55 of the previous log were lost/);
      expect(follow(bundleOf(log.slice(0, 48)), restoreOf(log.slice(0, 48), [])).failures).toEqual([]);
    });

    it('fails a backup whose signed records were rewritten and re-hashed before it was taken', () => {
      const log = chain(50);
      const forged = whitewashed(50);
      // The same size: the backup's root is not the bundle's.
      const same = follow(bundleOf(log), restoreOf(forged, [50]));
      expect(same.failures.join('\n')).toMatch(REWRITTEN);
      expect(same.notes.join('\n')).not.toMatch(/no signed records were lost/);
      // Larger: the proof from the bundle's size does not hold, or there is none (the relay's memory was emptied).
      const more = [...forged, ...chain(10, 51, forged[49]?.hash as string)];
      expect(follow(bundleOf(log), restoreOf(more, [50])).failures.join('\n')).toMatch(REWRITTEN);
      expect(follow(bundleOf(log), restoreOf(more, [])).failures.join('\n')).toMatch(REWRITTEN);
      // Smaller: the bundle's tiles give another root at the backup's size.
      expect(follow(bundleOf(log), restoreOf(forged.slice(0, 40), [])).failures.join('\n')).toMatch(REWRITTEN);
    });

    it('says when it cannot check (a bundle without tiles), and fails a restore record stripped of the backup\'s tree', () => {
      const log = chain(50);
      const untiled = follow(bundleOf(log, false), restoreOf(log.slice(0, 40), []));
      expect(untiled.failures).toEqual([]);
      expect(untiled.notes.join('\n')).toMatch(/ships no tiles .*first 40 records are the backup's could not be checked/);
      const stripped = follow(bundleOf(log), restoreRecord(log, 40, null));
      expect(stripped.failures.join('\n')).toMatch(/carries no tree of the backup's 40 records .*this one was altered/);
      expect(stripped.notes.join('\n')).not.toMatch(/no signed records were lost/);
    });

    it('reports what the restore discarded of the database it replaced', () => {
      const log = chain(50);
      const start = restoreRecord(log, 48, null, { discardedFrom: 49, discardedTo: 70, discardedHead: log[0]?.hash });
      expect(follow(bundleOf(log.slice(0, 48)), start).notes.join('\n')).toContain('the restore discarded records 49..70');
      const one = restoreRecord(log, 48, null, { discardedFrom: 49, discardedTo: 49, discardedHead: log[0]?.hash });
      expect(follow(bundleOf(log.slice(0, 48)), one).notes.join('\n')).toContain('the restore discarded record 49 that');
    });
  });

  it('counts every signed record of a replaced log lost, though the backup holds records beyond its numbers', () => {
    // Log A to 60; a backup B1 at 40 restored (log L1 from 41, exported to 45); then B2, A's backup at 60.
    const log = chain(45);
    const l1 = 'rounds.relay/0123456789abcdef-rfeedbeef';
    const l1Checkpoint = checkpoint(5, 4, signer, l1);
    const previous: PreviousBundleView = { checkpoint: { origin: l1, size: 5, root: l1Checkpoint.root }, note: l1Checkpoint.note, publicKeyPem: signer.publicKeyPem, firstSeq: 41, recordAt: (seq) => log.slice(40).find((r) => r.seq === seq) ?? null };
    const b2 = chain(60, 1, GENESIS_HASH, 'b2');
    const details = restoreDetails({ log: NEW, backup: { file: 'b2.age', createdAt: 0, records: 60, head: b2[59]?.hash as string }, previous: { origin: OLD, firstSeq: 1, checkpoint: null }, replaced: { origin: l1, checkpoint: l1Checkpoint.remembered, firstSeq: 41 } });
    expect(details).toMatchObject({ replacedLostFrom: 41, replacedLostTo: 45 });
    const content = { seq: 61, at: 1, type: 'audit.log_restored', actor: 'admin:ops', subject: '', details, flagged: true, prevHash: b2[59]?.hash as string };
    const link = followRestore(crypto, previous, { origin: NEW, firstSeq: 61, logStart: { ...content, hash: recordHash(crypto.sha256, content) } });
    expect(link.failures).toEqual([]);
    expect(link.notes[0]).toMatch(/^restored from a backup: records 41\.\.45 of the previous log were lost \(all of that log/);
    expect(link.notes.join('\n')).not.toMatch(/no signed records were lost/);
  });

  it('knows the logs of one relay by their first log', () => {
    expect(logFamily(NEW)).toBe(OLD);
    expect(logFamily(`${NEW}-rdeadbeef`)).toBe(OLD);
    expect(logFamily(OLD)).toBe(OLD);
    expect(logFamily('rounds.client/u.1')).toBe('rounds.client/u.1');
    // A key rotation statement of an earlier log of the relay holds for a later one; of another relay's, not.
    const statement = (origin: string) => ({ statement: `rounds-audit-key-rotation/1\norigin: ${origin}\ntime: 2026-12-01T00:00:00.000Z\n`, signature: '' });
    expect(rotationOrigin(statement(OLD), NEW)).toBe(OLD);
    expect(rotationOrigin(statement('rounds.relay/ffffffffffffffff'), NEW)).toBe(NEW);
    expect(rotationOrigin('not a statement', NEW)).toBe(NEW);
  });
});
