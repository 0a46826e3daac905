import { BundleWriter, readoutHeader, type BundleSink, type ChainBreak, type ExportedRecord } from '../../shared/audit/bundle';
import { toBase64 } from '../../shared/audit/checkpoint';
import type { AuditDirectory } from '../../shared/audit/people';
import type { SignedKeyRotation } from '../../shared/audit/keyRotation';
import { TileConsistency, TreeUnavailable } from '../../shared/audit/tiles';
import { RelayFailure } from '../RelayFailure';
import type { AuditTreeState, RelayStore } from '../storage/RelayStore';
import type { AuditRecord } from './AuditRecord';
import { nodeAuditCrypto } from './auditCrypto';
import type { AuditKey } from './auditKey';
import { StoredLeaves, againstSigned, growAuditTree, recordLine, recordsNotTheirLeaf, sha256, storedTiles, withStoredTree } from './AuditTree';
import { writeBundleStreaming } from './bundleFiles';
import { ReadoutThread } from './readoutThread';
import type { CheckpointMemory } from './checkpointMemory';
import { recordConcernsUser } from './userSelection';

export interface AuditExportResult {
  readonly path: string;
  readonly records: number;
  readonly treeSize: number;
  /** Set when the log's hash chain was broken and it was exported anyway (allowBroken). */
  readonly chainBroken: ChainBreak | null;
}

/** A relay audit record as it is exported and hashed into the Merkle tree. */
export function exportedRecord(r: AuditRecord): ExportedRecord {
  return { seq: r.seq, at: r.at, type: r.type, actor: r.actor, subject: r.subject, details: r.details, flagged: r.flagged, prevHash: r.prevHash, hash: r.hash };
}

/**
 * The relay refuses to sign a log whose hash chain does not hold: a signature would vouch for records that
 * were altered, removed or inserted. The admin may export it as evidence, marked as broken (--allow-broken);
 * the app's compliance export has no such override. A RelayFailure: the CLI prints it, the API sends it.
 */
export class AuditChainBroken extends RelayFailure {
  constructor(readonly brokenAt: number, readonly reason: string) {
    super('AUDIT_LOG_BROKEN', `the relay's audit log is broken at record ${brokenAt} (${reason}), so it was not exported: the relay's administrator should run \`rounds-server audit check\` and investigate; \`rounds-server audit export --allow-broken\` exports it as evidence, marked as broken`);
    this.name = 'AuditChainBroken';
  }
}

/** The relay would sign a checkpoint that contradicts one it signed before (its database was rolled back outside `restore`). */
export class AuditLogRolledBack extends RelayFailure {
  constructor(message: string) {
    super('AUDIT_LOG_BROKEN', message);
    this.name = 'AuditLogRolledBack';
  }
}

/** The relay's stored tree of its audit log does not hold together: it signs nothing over it. */
export class AuditTreeDamaged extends RelayFailure {
  constructor(readonly problems: readonly string[]) {
    super('AUDIT_LOG_BROKEN', `the relay's stored tree of its audit log is damaged (${problems.slice(0, 3).join('; ')}), so nothing was signed: run \`rounds-server audit check --rebuild-tree\`, which rebuilds it from the records`);
    this.name = 'AuditTreeDamaged';
  }
}

export interface RelayExportOptions {
  readonly from: number;
  readonly to: number;
  /** One user's export: the records that concern them (recordConcernsUser). */
  readonly user: string | null;
  readonly username?: string;
  readonly actor: string;
  readonly allowBroken?: boolean;
  readonly directory?: AuditDirectory;
  readonly memory?: CheckpointMemory;
  readonly now?: number;
  /**
   * Where events.csv and the report are made: on a worker thread of their own ('thread'), in this one
   * ('here'), or on a thread for a log of THREAD_FROM records or more ('auto', the default).
   */
  readonly readout?: 'auto' | 'thread' | 'here';
}

/** A log this big is described on a thread of its own: below it, starting one costs more than it saves. */
const THREAD_FROM = 100_000;
const PAGE = 5_000;
const encoder = new TextEncoder();
/** Found during an export: a record no longer what the tree recorded (altered after it was taken in). */
class LateBreak extends Error {
  constructor(readonly broken: ChainBreak) {
    super(`record ${broken.seq} ${broken.reason}`);
  }
}

/** The `audit.key_rotated` statements and earlier exports' tree sizes in the current log (one pass over the two kinds). */
async function logFacts(store: RelayStore, state: AuditTreeState): Promise<{ rotations: SignedKeyRotation[]; earlierSizes: number[] }> {
  const rotations: SignedKeyRotation[] = [];
  const earlierSizes: number[] = [];
  for (let after = 0; ;) {
    const page = await store.auditRecordsAfter(after, PAGE, { types: ['audit.key_rotated', 'audit.exported'] });
    if (page.length === 0) break;
    for (const r of page) {
      const { statement, signature, treeSize } = r.details;
      if (r.type === 'audit.key_rotated' && typeof statement === 'string' && typeof signature === 'string') rotations.push({ statement, signature });
      if (r.type === 'audit.exported' && r.seq >= state.firstSeq && typeof treeSize === 'number' && Number.isInteger(treeSize)) earlierSizes.push(treeSize);
    }
    after = page[page.length - 1]?.seq ?? after;
  }
  return { rotations, earlierSizes };
}

/**
 * Writes a signed bundle of the records in [from, to) (of one user, if given) to `sink`, a page at a time.
 * The tree is the one the relay keeps (grown first to the end of the log), so only new records are hashed
 * into it; each exported record is checked against its leaf. The checkpoint covers the whole log; proofs of
 * consistency from every earlier export are included, and every key rotation statement. A log whose chain
 * is broken is refused (AuditChainBroken) unless `allowBroken`, which marks the bundle as broken in every
 * file an auditor reads; a checkpoint inconsistent with one the relay signed before is never signed.
 */
async function writeRelayBundle(store: RelayStore, key: AuditKey, options: RelayExportOptions, sink: BundleSink, known: ChainBreak | null): Promise<{ records: number; treeSize: number; chainBroken: ChainBreak | null }> {
  const state = await growAuditTree(store);
  const chainBroken = known ?? (state.brokenAt !== null ? { seq: state.brokenAt, reason: state.brokenReason ?? 'broken' } : null);
  if (chainBroken && !options.allowBroken) throw new LateBreak(chainBroken);
  const { size, firstSeq } = state;
  const { rotations, earlierSizes } = await logFacts(store, state);
  const { root, consistency } = await withStoredTree(store, size, (tree) => {
    const sizes = [...new Set(earlierSizes)].filter((m) => m > 0 && m < size);
    return { root: tree.root(), consistency: sizes.map((m) => ({ fromSize: m, proof: tree.consistencyProof(m) })) };
  });
  const signed = (await options.memory?.last(key.origin)) ?? null;
  const verdict = await againstSigned(store, size, signed);
  const signedBefore = signed ? new Date(signed.at).toISOString() : '';
  if (verdict === 'rolled back') throw new AuditLogRolledBack(`the relay signed a checkpoint of ${signed?.size ?? 0} records for log ${key.origin} on ${signedBefore}, and the log now holds ${size}: its database was rolled back outside \`rounds-server restore\`, so it was not exported (a restore begins a new log and says what was lost)`);
  if (verdict === 'rewritten') throw new AuditLogRolledBack(`the log's first ${signed?.size ?? 0} records are not the ones the relay signed on ${signedBefore}: its database was replaced or rewritten outside \`rounds-server restore\`, so it was not exported`);
  const header = {
    origin: key.origin,
    range: { from: options.from, to: options.to, user: options.user },
    firstSeq,
    signer: key,
    title: 'Rounds relay audit log',
    generatedAt: options.now ?? Date.now(),
    rotations,
    ...(options.directory ? { directory: options.directory } : {}),
    ...(options.username ? { username: options.username } : {}),
    ...(chainBroken ? { chainBroken } : {}),
  };
  const onThread = options.readout === 'thread' || ((options.readout ?? 'auto') === 'auto' && size >= THREAD_FROM);
  let writer: BundleWriter | null = null;
  const thread = onThread ? new ReadoutThread(readoutHeader(header), (bytes) => writer?.appendCsv(bytes)) : null;
  try {
    writer = new BundleWriter(nodeAuditCrypto, sink, header, thread?.lines);
    return await writeRecords(store, options, { sink, state, known: chainBroken, writer, thread, root, consistency, verdict, signedSize: signed?.size ?? 0, key });
  } finally {
    thread?.close();
  }
}

interface ExportPlan {
  readonly sink: BundleSink;
  readonly state: AuditTreeState;
  readonly known: ChainBreak | null;
  readonly writer: BundleWriter;
  readonly thread: ReadoutThread | null;
  readonly root: Uint8Array;
  readonly consistency: { fromSize: number; proof: Uint8Array[] }[];
  readonly verdict: 'none' | 'holds' | 'rolled back' | 'rewritten';
  readonly signedSize: number;
  readonly key: AuditKey;
}

/** Stored tiles taken between pages of records: their hashing runs while the readout thread describes. */
const TILES_PER_PAGE = 32;

/**
 * The records, each checked against its leaf, and the stored tiles, each level checked against the one
 * beneath (a few between pages of records, the rest after), then the readout's result, and the signature.
 */
async function writeRecords(store: RelayStore, options: RelayExportOptions, plan: ExportPlan): Promise<{ records: number; treeSize: number; chainBroken: ChainBreak | null }> {
  const { state: { size, firstSeq }, known: chainBroken, writer, thread, root, consistency, key } = plan;
  const last = firstSeq + size - 1;
  const leaves = new StoredLeaves(store, firstSeq);
  const tiles = new TileConsistency(sha256);
  const tileStream = storedTiles(store, size)[Symbol.asyncIterator]();
  // Only as many as the sink writes aside: creating a tile's file here would hold up the records.
  const takeTiles = async (count: number, wait: boolean): Promise<void> => {
    for (let i = 0; i < count; i++) {
      const room = plan.sink.tileRoom?.() ?? null;
      if (room && !wait) return;
      if (room) await room;
      const next = await tileStream.next().catch((error: unknown) => {
        throw error instanceof TreeUnavailable ? new AuditTreeDamaged([error.message]) : error;
      });
      if (next.done) return;
      tiles.add(next.value.tile, next.value.hashes);
      writer.addTile(next.value.tile, next.value.hashes);
    }
  };
  let records = 0;
  // Each exported record must still be the one the tree took in: the writer checks its line against its leaf.
  for await (const { seqs, lines, made } of exportedLines(store, options, firstSeq, last)) {
    for (let i = 0; i < seqs.length; i++) {
      const seq = seqs[i] as number;
      const leaf = chainBroken ? undefined : await leaves.leaf(seq);
      if (leaf === null) throw new LateBreak({ seq, reason: 'missing from the log\'s tree' });
      if (writer.add({ seq }, lines[i] as string, leaf)) continue;
      // A line the database made may differ from the record's own (details stored otherwise): the record read whole decides.
      const whole = made ? (await store.auditRecordsAfter(seq - 1, 1))[0] : undefined;
      if (!whole || whole.seq !== seq || !writer.add({ seq }, recordLine(whole), leaf)) throw new LateBreak({ seq, reason: 'altered after it was recorded in the log\'s tree' });
    }
    records += seqs.length;
    await takeTiles(TILES_PER_PAGE, false);
    await thread?.caughtUp();
  }
  writer.endRecords();
  const tree = { size, root, consistency };
  const readout = thread ? thread.finish(writer.verification(tree)) : Promise.resolve(writer.readout(tree));
  // Awaited below; a failure meanwhile (the export refused) leaves it unread, and that is no crash.
  readout.catch(() => undefined);
  // So must every record the relay has not signed before, exported or not: the checkpoint vouches for them too.
  if (!chainBroken) await checkUnsignedLeaves(store, options, firstSeq, firstSeq - 1 + (plan.verdict === 'holds' ? plan.signedSize : 0), last);
  // A log a restore began (even one begun at record 1, from a backup of an empty log) shows its first record.
  if (firstSeq > 1 || (await store.auditLogStart()).origin !== null) {
    const [start] = await store.auditRecordsAfter(firstSeq - 1, 1);
    if (start) writer.logStart(encoder.encode(recordLine(start)));
  }
  await takeTiles(Infinity, true);
  const damaged = tiles.problems();
  if (damaged.length > 0) throw new AuditTreeDamaged(damaged);
  const note = writer.finish(tree, await readout);
  // Written in full before it is remembered and audited as exported (a full disk fails the export first).
  await plan.sink.settled?.();
  // Remembered before the bundle is handed out.
  await options.memory?.remember({ origin: key.origin, size, root: toBase64(root), note, at: options.now ?? Date.now() });
  await store.appendAudit([{ type: 'audit.exported', actor: options.actor, subject: options.user ?? '', details: { from: options.from, to: options.to, records, treeSize: size, ...(firstSeq > 1 ? { firstSeq } : {}), ...(chainBroken ? { chainBrokenAt: chainBroken.seq } : {}) } }]);
  return { records, treeSize: size, chainBroken };
}

/**
 * The exported records' lines in seq order, a page at a time: for the whole log (in the range) as the store
 * puts them together (a record it cannot is read whole), for one user's export from the records that concern them.
 */
async function* exportedLines(store: RelayStore, options: RelayExportOptions, firstSeq: number, last: number): AsyncGenerator<ExportedPage> {
  for (let after = firstSeq - 1; after < last;) {
    const page = options.user === null ? await storeLines(store, options, after, last) : await userLines(store, options, options.user, after, last);
    if (!page) return;
    after = page.after;
    yield page;
  }
}

interface ExportedPage {
  readonly seqs: number[];
  readonly lines: string[];
  /** The lines are the database's (checked against the records read whole where they differ from their leaves). */
  readonly made: boolean;
  /** The last seq read (the next page starts after it). */
  readonly after: number;
}

async function storeLines(store: RelayStore, options: RelayExportOptions, after: number, last: number): Promise<ExportedPage | null> {
  const page = await store.auditLinesAfter(after, PAGE, { from: options.from, to: options.to, untilSeq: last });
  if (page.length === 0) return null;
  const seqs: number[] = [];
  const lines: string[] = [];
  let whole: number[] = [];
  for (const entry of page) {
    const space = entry.indexOf(' ');
    seqs.push(Number(space < 0 ? entry : entry.slice(0, space)));
    lines.push(space < 0 ? '' : entry.slice(space + 1));
    if (space < 0) whole.push(lines.length - 1);
  }
  // Records the database cannot make a line of (stored before it could): read whole, a run of them at once.
  while (whole.length > 0) {
    const from = seqs[whole[0] as number] as number;
    const read = new Map((await store.auditRecordsAfter(from - 1, PAGE, { from: options.from, to: options.to, untilSeq: last })).map((r) => [r.seq, r]));
    const rest: number[] = [];
    for (const i of whole) {
      const record = read.get(seqs[i] as number);
      if (record) lines[i] = recordLine(record);
      else rest.push(i);
    }
    if (rest.length === whole.length) throw new LateBreak({ seq: from, reason: 'missing from the log' });
    whole = rest;
  }
  return { seqs, lines, made: true, after: seqs[seqs.length - 1] ?? last };
}

async function userLines(store: RelayStore, options: RelayExportOptions, user: string, after: number, last: number): Promise<ExportedPage | null> {
  const page = await store.auditRecordsAfter(after, PAGE, { from: options.from, to: options.to, untilSeq: last });
  if (page.length === 0) return null;
  const concern = page.filter((r) => recordConcernsUser(r, user, options.username));
  return { seqs: concern.map((r) => r.seq), lines: concern.map(recordLine), made: false, after: page[page.length - 1]?.seq ?? last };
}

/**
 * Records after the last checkpoint the relay signed, that the export did not read itself (outside its range,
 * or another user's): each must be the record its leaf says, or the checkpoint would vouch for a damaged tree.
 * Cost: the records written since the last export.
 */
async function checkUnsignedLeaves(store: RelayStore, options: RelayExportOptions, firstSeq: number, after: number, last: number): Promise<void> {
  // A whole log's export whose range holds every record's time read them all already (found from the index by time, not by reading the log).
  const span = options.user === null ? await store.auditTimeSpan() : undefined;
  if (span === null || (span && span.earliest >= options.from && span.latest < options.to)) return;
  const filter = options.user === null ? { outside: { from: options.from, to: options.to } } : {};
  for await (const seq of recordsNotTheirLeaf(store, firstSeq, after, last, filter)) throw new LateBreak({ seq, reason: 'altered after it was recorded in the log\'s tree' });
}

/**
 * Runs an export into sinks made by `open` (a fresh one per attempt): a break found midway (a record altered
 * after the tree took it in) refuses the export, or, with allowBroken, writes it again marked as broken.
 * A refusal is itself audited: it is worth a compliance officer's attention.
 */
async function runExport(store: RelayStore, key: AuditKey, options: RelayExportOptions, open: (attempt: (sink: BundleSink) => Promise<void>) => Promise<void>): Promise<{ records: number; treeSize: number; chainBroken: ChainBreak | null }> {
  let known: ChainBreak | null = null;
  for (;;) {
    try {
      let result: { records: number; treeSize: number; chainBroken: ChainBreak | null } | null = null;
      await open(async (sink) => {
        result = await writeRelayBundle(store, key, options, sink, known);
      });
      if (!result) throw new Error('the export wrote nothing');
      return result;
    } catch (error) {
      if (!(error instanceof LateBreak)) throw error;
      if (options.allowBroken && !known) {
        known = error.broken;
        continue;
      }
      await store.appendAudit([{ type: 'audit.export_refused', actor: options.actor, subject: options.user ?? '', details: { from: options.from, to: options.to, chainBrokenAt: error.broken.seq, reason: error.broken.reason }, flagged: true }]);
      throw new AuditChainBroken(error.broken.seq, error.broken.reason);
    }
  }
}

/** A bundle in memory (the compliance officer's export through the API: a bounded range, sent as a zip). */
export async function buildRelayBundle(store: RelayStore, key: AuditKey, options: RelayExportOptions): Promise<{ files: Map<string, Uint8Array>; records: number; treeSize: number; chainBroken: ChainBreak | null }> {
  let files = new Map<string, Uint8Array[]>();
  const result = await runExport(store, key, options, async (attempt) => {
    files = new Map();
    await attempt({ append: (name, bytes) => void (files.get(name) ?? files.set(name, []).get(name))?.push(bytes) });
  });
  return { ...result, files: new Map([...files].map(([name, parts]) => [name, Buffer.concat(parts)])) };
}

/** `rounds-server audit export`: the bundle written to `out` (a directory, or a .zip), a page at a time. */
export async function exportAudit(store: RelayStore, key: AuditKey, options: RelayExportOptions & { out: string }): Promise<AuditExportResult> {
  const result = await runExport(store, key, options, (attempt) => writeBundleStreaming(options.out, attempt));
  return { path: options.out, ...result };
}
