/** The RelayStore contract (relayStoreContract.ts): the hash-chained audit log, its pages and lines, its logs and its stored tree. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { checkpointMemory } from '../../server/audit/checkpointMemory';
import { signedCheckpoints } from '../../server/audit/signedCheckpoints';
import { GENESIS_HASH, type AuditEvent, type AuditRecord } from '../../server/audit/AuditRecord';
import { recordLine } from '../../server/audit/AuditTree';
import type { AuditRecordFilter, AuditTreeState, StoredTile } from '../../server/storage/RelayStore';
import { ROOMY, accepted, envelope, follower, type ContractStores } from './relayStoreStores';

const event = (type: AuditEvent['type'], actor: string, details: AuditEvent['details'] = {}): AuditEvent => ({ type, actor, subject: `subject-of-${actor}`, details });
const asWritten = (r: AuditRecord) => ({ type: r.type, actor: r.actor, subject: r.subject, details: r.details, flagged: r.flagged });
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A tile of `nodes` hashes, each byte `fill` (the store keeps tiles as given: it does not hash them). */
const tile = (level: number, index: number, fill: number, nodes: number): StoredTile => ({ level, index, hashes: new Uint8Array(32 * nodes).fill(fill) });
const readable = (tiles: readonly StoredTile[]) => tiles.map((x) => [x.level, x.index, Buffer.from(x.hashes).toString('hex')]);

export function relayStoreAudit(t: ContractStores): void {
  /** Three appends, each at its own time, two records each; the records, and each append's time. */
  async function threeAppends(): Promise<{ records: AuditRecord[]; at: [number, number, number] }> {
    await t.store.appendAudit([event('login.failure', 'a1', { attempt: 1 }), event('login.success', 'a2')]);
    await pause(3);
    await t.other.appendAudit([event('login.failure', 'b1'), event('keys.uploaded', 'b2', { preKeys: 100, note: 'x "quoted" \n' })]);
    await pause(3);
    await t.store.appendAudit([event('login.success', 'c1'), { ...event('account.locked', 'c2'), flagged: true }]);
    const records = await t.other.auditRecordsAfter(0, 100);
    return { records, at: [records[0]!.at, records[2]!.at, records[4]!.at] };
  }

  it('appends events as chained records, read back as written through either instance', async () => {
    const { store, other } = t;
    const before = Date.now();
    const events: AuditEvent[] = [
      event('login.failure', 'anonymous@10.0.0.1', { reason: 'password', attempt: 3, locked: false, none: null, ratio: -0.5 }),
      { type: 'emergency.issued', actor: 'admin:ops', subject: 'u-1', details: { reason: 'ward 4 — down' }, flagged: true },
    ];
    await store.appendAudit(events.slice(0, 1));
    await other.appendAudit(events.slice(1));
    await store.appendAudit([]);
    const records = await other.auditRecordsAfter(0, 100);
    expect(records.map(asWritten)).toEqual(events.map((e) => ({ ...e, flagged: e.flagged ?? false })));
    expect(records.map((r) => [r.seq, r.prevHash])).toEqual([[1, GENESIS_HASH], [2, records[0]!.hash]]);
    expect(records.every((r) => r.at >= before && r.at <= Date.now())).toBe(true);
    expect(await store.checkAuditChain()).toEqual({ ok: true, records: 2, head: records[1]!.hash });
  });

  it('records any text an event carries: its details exactly, NUL and lone surrogates elsewhere as U+FFFD, hashed as kept', async () => {
    await t.store.appendAudit([{ type: 'login.failure', actor: 'a\u0000b', subject: 'c\uDC00', details: { note: 'nul \u0000 and \uD800 kept in details' } }]);
    const [record] = await t.other.auditRecordsAfter(0, 1);
    expect(asWritten(record!)).toEqual({ type: 'login.failure', actor: 'a\uFFFDb', subject: 'c\uFFFD', details: { note: 'nul \u0000 and \uD800 kept in details' }, flagged: false });
    expect(await t.store.checkAuditChain()).toMatchObject({ ok: true, records: 1 });
  });

  it('keeps one audit chain, in one order with no gap, under writers racing', async () => {
    const { store } = t;
    const [alice, bob] = [await t.account(), await t.account()];
    const following = follower((after) => t.other.auditRecordsAfter(after, 100));
    await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => t.either(i).appendAudit([event('login.failure', `racer-${i}`)])),
      ...Array.from({ length: 20 }, (_, i) => t.either(i + 1).enqueue([envelope(alice, bob)], accepted, ROOMY)),
    ]);
    const records = await store.auditRecordsAfter(0, 10_000);
    expect(records.map((r) => r.seq)).toEqual(records.map((_r, i) => i + 1));
    // A reader streaming the log by seq (a SIEM) while they wrote saw every record.
    expect(await following.stop()).toEqual(records);
    expect(records.filter((r) => r.type === 'envelope.accepted')).toHaveLength(20);
    expect(await t.other.checkAuditChain()).toMatchObject({ ok: true, records: 40 });
  });

  it('reads records by time, and pages them after a seq with each filter', async () => {
    const { store, other } = t;
    const { records, at } = await threeAppends();
    const seqs = async (filter: AuditRecordFilter, after = 0, limit = 100) => (await t.either(after + limit).auditRecordsAfter(after, limit, filter)).map((r) => r.seq);
    expect(await store.auditRecords(at[0], at[2])).toEqual(records.slice(0, 4));
    expect(await other.auditRecords(at[1], at[2] + 1)).toEqual(records.slice(2));
    expect(await store.auditRecordsAfter(1, 2)).toEqual(records.slice(1, 3));
    expect(await seqs({ from: at[1] })).toEqual([3, 4, 5, 6]);
    expect(await seqs({ to: at[1] })).toEqual([1, 2]);
    expect(await seqs({ untilSeq: 3 })).toEqual([1, 2, 3]);
    expect(await seqs({ outside: { from: at[1], to: at[2] } })).toEqual([1, 2, 5, 6]);
    expect(await seqs({ types: ['login.success', 'account.locked'] })).toEqual([2, 5, 6]);
    expect(await seqs({ types: [] })).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await seqs({ from: at[0], to: at[2], untilSeq: 4, types: ['login.failure', 'login.success'] }, 1)).toEqual([2, 3]);
    expect(await seqs({ types: ['login.failure'] }, 0, 1)).toEqual([1]);
    // An export's time span of the log: what lies outside a range without reading the records.
    expect(await other.auditTimeSpan()).toEqual({ earliest: Math.min(...records.map((r) => r.at)), latest: Math.max(...records.map((r) => r.at)) });
  });

  it('gives a record\'s events.jsonl line, where it gives one, as exactly the line of the record it pages to', async () => {
    const { records, at } = await threeAppends();
    // A record of another version with nested details: a store may leave its line to the caller.
    await t.store.appendAudit([{ type: 'audit.log_restored', actor: 'admin:ops', subject: '', details: { backup: { file: 'b.tar' } } as never }]);
    records.push(...(await t.store.auditRecordsAfter(6, 10)));
    const filters: [number, number, Pick<AuditRecordFilter, 'from' | 'to' | 'untilSeq'>?][] = [[0, 100], [2, 3], [0, 100, { from: at[1], to: at[2] }], [0, 100, { untilSeq: 5 }], [0, 100, { from: at[2] }]];
    for (const [after, limit, filter] of filters) {
      for (const on of [t.store, t.other]) {
        const lines = await on.auditLinesAfter(after, limit, filter);
        const paged = await on.auditRecordsAfter(after, limit, filter);
        expect(lines.map((l) => Number(l.split(' ', 1)[0]))).toEqual(paged.map((r) => r.seq));
        for (const [i, entry] of lines.entries()) {
          const space = entry.indexOf(' ');
          if (space === -1) continue;
          const record = paged[i]!;
          const line = entry.slice(space + 1);
          expect(JSON.parse(line)).toEqual({ ...record });
          expect(line).toBe(recordLine(record));
        }
      }
    }
    expect(records).toHaveLength(7);
  });

  it('begins a new log (a restore) with its origin, its first record chained on, and its tree empty', async () => {
    const { store, other } = t;
    expect(await store.auditLogStart()).toEqual({ firstSeq: 1, origin: null });
    expect(await store.auditTimeSpan()).toBeNull();
    await store.appendAudit([event('login.failure', 'a'), event('login.success', 'b')]);
    const before = await store.auditRecordsAfter(0, 10);
    const grown: AuditTreeState = { firstSeq: 1, size: 2, head: before[1]!.hash, brokenAt: null, brokenReason: null };
    expect(await store.extendAuditTree(await store.auditTree(), grown, [tile(0, 0, 1, 2)])).toBe(true);
    const restored: AuditEvent = { type: 'audit.log_restored', actor: 'admin:ops', subject: '', details: { lost: 0 }, flagged: true };
    const first = await other.beginAuditLog('relay.example/log-2', restored);
    expect(first).toMatchObject({ seq: 3, ...restored, prevHash: before[1]!.hash });
    expect(await store.auditRecordsAfter(2, 10)).toEqual([first]);
    expect(await store.auditLogStart()).toEqual({ firstSeq: 3, origin: 'relay.example/log-2' });
    expect(await store.auditTree()).toEqual({ firstSeq: 3, size: 0, head: before[1]!.hash, brokenAt: null, brokenReason: null });
    expect(await store.auditTiles(0, 0, 10)).toEqual([]);
    // A growth begun on the old log finds the tree moved.
    expect(await store.extendAuditTree(grown, { ...grown, size: 3, head: first.hash }, [tile(0, 0, 2, 3)])).toBe(false);
    await store.appendAudit([event('login.failure', 'c')]);
    const second = await store.beginAuditLog('relay.example/log-3', restored);
    expect(await other.auditLogStart()).toEqual({ firstSeq: second.seq, origin: 'relay.example/log-3' });
    expect(await other.checkAuditChain()).toEqual({ ok: true, records: 5, head: second.hash });
  });

  it('grows the stored tree only from where it stands: a stale growth writes nothing, and of two instances growing it at once one wins', async () => {
    const { store, other } = t;
    const empty = await store.auditTree();
    expect(empty).toEqual({ firstSeq: 1, size: 0, head: GENESIS_HASH, brokenAt: null, brokenReason: null });
    await store.appendAudit(Array.from({ length: 4 }, (_, i) => event('login.failure', `r${i}`)));
    const records = await store.auditRecordsAfter(0, 10);
    const at = (size: number, broken: number | null = null): AuditTreeState => ({ firstSeq: 1, size, head: records[size - 1]!.hash, brokenAt: broken, brokenReason: broken === null ? null : `record ${broken} does not chain` });
    // Two instances growing a tree not yet stored: one of them.
    const first = await Promise.all([store.extendAuditTree(empty, at(2), [tile(0, 0, 1, 2)]), other.extendAuditTree(empty, at(2, 2), [tile(0, 0, 2, 2)])]);
    expect(first.filter(Boolean)).toHaveLength(1);
    const [won, fill] = first[0] ? [at(2), 1] : [at(2, 2), 2];
    expect(await other.auditTree()).toEqual(won);
    expect(readable(await store.auditTiles(0, 0, 10))).toEqual(readable([tile(0, 0, fill, 2)]));
    // From a state the tree has left: false, and nothing written.
    expect(await other.extendAuditTree(empty, at(3), [tile(0, 0, 9, 3), tile(1, 0, 9, 1)])).toBe(false);
    expect(await store.auditTree()).toEqual(won);
    expect(readable([...(await store.auditTiles(0, 0, 10)), ...(await store.auditTiles(1, 0, 10))])).toEqual(readable([tile(0, 0, fill, 2)]));
    // Two instances growing a stored tree: one of them; its tiles, of every level, read back by level and index.
    const grownTiles = (f: number) => [tile(0, 0, f, 256), tile(0, 1, f, 4), tile(1, 0, f, 1)];
    const second = await Promise.all([store.extendAuditTree(won, at(4), grownTiles(3)), other.extendAuditTree(won, at(4), grownTiles(4))]);
    expect(second.filter(Boolean)).toHaveLength(1);
    const tiles = grownTiles(second[0] ? 3 : 4);
    expect(await other.auditTree()).toEqual(at(4));
    expect(readable(await store.auditTiles(0, 0, 2))).toEqual(readable(tiles.slice(0, 2)));
    expect(readable(await other.auditTiles(0, 1, 5))).toEqual(readable(tiles.slice(1, 2)));
    expect(readable(await other.auditTiles(1, 0, 1))).toEqual(readable(tiles.slice(2)));
    expect(await store.auditTiles(2, 0, 10)).toEqual([]);
  });

  it('forgets the stored tree on reset, back to the empty tree of the current log', async () => {
    const { store, other } = t;
    await store.appendAudit([event('login.failure', 'a')]);
    const [record] = await store.auditRecordsAfter(0, 1);
    await store.extendAuditTree(await store.auditTree(), { firstSeq: 1, size: 1, head: record!.hash, brokenAt: null, brokenReason: null }, [tile(0, 0, 1, 1)]);
    await other.resetAuditTree();
    expect(await store.auditTree()).toEqual({ firstSeq: 1, size: 0, head: GENESIS_HASH, brokenAt: null, brokenReason: null });
    expect(await store.auditTiles(0, 0, 10)).toEqual([]);
    const first = await store.beginAuditLog('relay.example/log-2', { type: 'audit.log_restored', actor: 'admin:ops', subject: '', details: {}, flagged: true });
    const grown = { firstSeq: first.seq, size: 1, head: first.hash, brokenAt: null, brokenReason: null };
    expect(await other.extendAuditTree(await other.auditTree(), grown, [tile(0, 0, 2, 1)])).toBe(true);
    await store.resetAuditTree();
    expect(await other.auditTree()).toEqual({ firstSeq: first.seq, size: 0, head: record!.hash, brokenAt: null, brokenReason: null });
    expect(await other.auditTiles(0, 0, 10)).toEqual([]);
  });

  it('says it is ready when it is, and how much room it has where it can tell', async () => {
    for (const on of [t.store, t.other]) {
      expect(await on.notReady()).toBeUndefined();
      const free = await on.freeBytes();
      expect(free === undefined || (Number.isSafeInteger(free) && free > 0)).toBe(true);
    }
  });

  it('keeps the checkpoints the relay signed for every instance to see, where the store keeps them', async () => {
    const { store, other } = t;
    const checkpoint = (origin: string, size: number) => ({ origin, size, root: Buffer.alloc(32, size).toString('base64'), note: `${origin}\n${size}\n`, at: size });
    const written = [checkpoint('log-1', 5), checkpoint('log-2', 1), checkpoint('log-1', 9)];
    // A store keeps them whole or not at all: the relay's memory (checkpointMemory) uses the store's only when
    // it can both remember and recall, so half of it would be ignored without a word.
    expect(typeof store.rememberCheckpoint).toBe(typeof store.signedCheckpoints);
    if (store.rememberCheckpoint && other.signedCheckpoints) {
      for (const c of written) await store.rememberCheckpoint(c);
      expect(await other.signedCheckpoints('log-1')).toEqual([checkpoint('log-1', 5), checkpoint('log-1', 9)]);
      expect(await other.signedCheckpoints('log-3')).toEqual([]);
      return;
    }
    // A store on one machine (SQLite) leaves them to the relay's data directory, which its instances share and a
    // restore of the database does not roll back (test/integration/audit-restore.test.ts follows a restore).
    const dataDir = mkdtempSync(join(tmpdir(), 'rounds-contract-checkpoints-'));
    try {
      for (const c of written) await checkpointMemory(dataDir, store).remember(c);
      expect(signedCheckpoints(dataDir, 'log-1')).toEqual([checkpoint('log-1', 5), checkpoint('log-1', 9)]);
      expect(signedCheckpoints(dataDir, 'log-3')).toEqual([]);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
}
