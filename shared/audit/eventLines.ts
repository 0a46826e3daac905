/**
 * The checks of a bundle's events.jsonl, in two halves so that a year's log can be checked on every core:
 * EventLineFacts does what each line needs on its own (parse, the record's own hash, its leaf in the tree,
 * its range) and writes the result as flags per line into typed arrays that a worker thread can hand over;
 * EventLinesFold reads those facts in order and does what needs the line before (order, gaps, the chain's
 * links), writing every problem in plain words exactly as one pass over the file would. Pure: the crypto
 * and the tree's leaves are passed in.
 */
import { MAX_LINE_BYTES, digestIs, type AuditCrypto, type ExportedRecord } from './bundleLayout';
import { ChainProblems, inspectChained } from './recordChain';

/** What the lines are checked against (from the bundle's proof.json and checkpoint). */
export interface EventLinesContext {
  readonly firstSeq: number;
  readonly treeSize: number;
  /** A whole log's export: no seq may be missing between two records. */
  readonly complete: boolean;
  readonly range: { readonly from: number; readonly to: number };
  /** A relay log: every record must carry its hash chain. */
  readonly relay: boolean;
}

/** Per-line flags. */
const TOO_LONG = 1;
const INVALID = 2;
const OUT_OF_RANGE = 4;
const CHAIN_MALFORMED = 8;
const CHAIN_QUIET = 16;
const CHAIN_ALTERED = 32;
const CHAIN_NOT_GENESIS = 64;
const CHAIN_UNLINKED = 128;
/** The first line of a run checked without the chain before it: its link is checked by the fold (LineFactsBatch.headPrevHash). */
const CHAIN_HEAD = 256;
const LEAF_BAD = 512;
const OUTSIDE_TREE = 1024;

/** The facts of consecutive lines: one flag word and one seq per line (structured-clone friendly, its buffers transferable). */
export interface LineFactsBatch {
  readonly count: number;
  readonly flags: Uint16Array;
  readonly seqs: Float64Array;
  /** The prevHash of the line flagged CHAIN_HEAD. */
  readonly headPrevHash: string | null;
  /** The chain's last record hash after these lines (null: a malformed record reset it; undefined: no line touched the chain). */
  readonly tailHash: string | null | undefined;
}

const decoder = new TextDecoder('utf-8', { fatal: true });
const BATCH_LINES = 65_536;

/**
 * The lines of a file read in chunks, each as bytes without its newline; `truncated` when the last has none.
 * A line longer than `max` is cut to max + 1 bytes (the caller fails it) and the rest skipped to its newline:
 * one huge line costs one pass, never a growing copy.
 */
export function* lines(chunks: Iterable<Uint8Array>, state: { truncated: boolean }, max = MAX_LINE_BYTES): Generator<Uint8Array> {
  let carry: Uint8Array[] = [];
  let carried = 0;
  const joined = (piece: Uint8Array): Uint8Array => {
    if (carry.length === 0) return piece;
    const room = Math.max(0, max + 1 - carried);
    const out = new Uint8Array(carried + Math.min(room, piece.length));
    let at = 0;
    for (const part of carry) {
      out.set(part, at);
      at += part.length;
    }
    out.set(piece.subarray(0, out.length - at), at);
    return out;
  };
  for (const chunk of chunks) {
    let start = 0;
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, start)) {
      yield joined(chunk.subarray(start, i));
      carry = [];
      carried = 0;
      start = i + 1;
    }
    if (start < chunk.length && carried <= max) {
      const rest = chunk.slice(start, start + Math.min(chunk.length - start, max + 1 - carried));
      carry.push(rest);
      carried += rest.length;
    }
  }
  if (carried > 0) {
    state.truncated = true;
    yield joined(new Uint8Array(0));
  }
}

/**
 * Each line's own checks, a line at a time. `leafAt(index)`: the tree's leaf hash (null when the tree is not
 * checked, e.g. a version 1 bundle). `v1`: where a version 1 bundle's leaves and seqs are collected for its proof.
 */
export class EventLineFacts {
  readonly #crypto: AuditCrypto;
  readonly #context: EventLinesContext;
  readonly #leafAt: ((index: number) => Uint8Array) | null;
  readonly #v1: { leaves: Uint8Array[]; seqs: number[] } | null;
  readonly #scratch = new Uint8Array(MAX_LINE_BYTES + 1);
  #flags = new Uint16Array(BATCH_LINES);
  #seqs = new Float64Array(BATCH_LINES);
  #count = 0;
  #headPrevHash: string | null = null;
  #tailHash: string | null | undefined = undefined;
  /** The last record the chain saw (undefined before the first). */
  #chainBefore: { seq: number; hash: string } | null | undefined = undefined;

  constructor(crypto: AuditCrypto, context: EventLinesContext, leafAt: ((index: number) => Uint8Array) | null, v1: { leaves: Uint8Array[]; seqs: number[] } | null = null) {
    this.#crypto = crypto;
    this.#context = context;
    this.#leafAt = leafAt;
    this.#v1 = v1;
  }

  get pending(): number {
    return this.#count;
  }

  add(bytes: Uint8Array): void {
    if (this.#count === this.#flags.length) this.#grow();
    const line = this.#count++;
    this.#flags[line] = this.#facts(bytes, line);
  }

  /** The facts gathered since the last take. */
  take(): LineFactsBatch {
    const batch = { count: this.#count, flags: this.#flags.slice(0, this.#count), seqs: this.#seqs.slice(0, this.#count), headPrevHash: this.#headPrevHash, tailHash: this.#tailHash };
    this.#count = 0;
    this.#headPrevHash = null;
    this.#tailHash = undefined;
    return batch;
  }

  #grow(): void {
    const flags = new Uint16Array(this.#flags.length * 2);
    flags.set(this.#flags);
    const seqs = new Float64Array(this.#seqs.length * 2);
    seqs.set(this.#seqs);
    this.#flags = flags;
    this.#seqs = seqs;
  }

  #facts(bytes: Uint8Array, line: number): number {
    if (bytes.length > MAX_LINE_BYTES) return TOO_LONG;
    let record: ExportedRecord;
    try {
      record = JSON.parse(decoder.decode(bytes)) as ExportedRecord;
      if (!Number.isSafeInteger(record.seq) || typeof record.at !== 'number' || typeof record.type !== 'string' || nestedDeeperThan(record.details, MAX_DEPTH)) return INVALID;
    } catch {
      return INVALID;
    }
    this.#seqs[line] = record.seq;
    let flags = record.at < this.#context.range.from || record.at >= this.#context.range.to ? OUT_OF_RANGE : 0;
    flags |= this.#chain(record as unknown as Readonly<Record<string, unknown>>);
    // The leaf: SHA-256(0x00 || line), hashed from a scratch copy (no string round trip).
    const scratch = this.#scratch;
    scratch[0] = 0;
    scratch.set(bytes, 1);
    const leafBytes = scratch.subarray(0, bytes.length + 1);
    if (this.#v1) {
      this.#v1.leaves.push(this.#crypto.sha256(leafBytes));
      this.#v1.seqs.push(record.seq);
    } else if (this.#leafAt) {
      const index = record.seq - this.#context.firstSeq;
      if (index < 0 || index >= this.#context.treeSize) flags |= OUTSIDE_TREE;
      else if (!digestIs(this.#crypto, leafBytes, this.#leafAt(index))) flags |= LEAF_BAD;
    }
    return flags;
  }

  #chain(raw: Readonly<Record<string, unknown>>): number {
    const { record, finding } = inspectChained(raw, this.#context.relay, this.#crypto.sha256, this.#crypto.sha256Text?.bind(this.#crypto));
    const before = this.#chainBefore;
    this.#chainBefore = record ? { seq: record.seq, hash: record.hash } : null;
    this.#tailHash = record ? record.hash : null;
    if (!record) return finding === 'quiet' ? CHAIN_QUIET : CHAIN_MALFORMED;
    if (finding === 'altered') return CHAIN_ALTERED;
    if (finding === 'not-genesis') return CHAIN_NOT_GENESIS;
    if (before === undefined) {
      this.#headPrevHash = record.prevHash;
      return CHAIN_HEAD;
    }
    return before && before.seq === record.seq - 1 && record.prevHash !== before.hash ? CHAIN_UNLINKED : 0;
  }
}

/** Details nest no deeper than this: deeper, the canonical form would exhaust a thread's stack (and a worker's is larger). */
const MAX_DEPTH = 32;

/** Whether objects and arrays in `value` nest more than `max` deep (walked without recursion). */
function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [v, depth] = next;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= max) return true;
    for (const child of Object.values(v)) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return false;
}

/** Failures past this many stop the reading: a rewritten log should not print a million lines. */
const MAX_FAILURES = 1000;

/**
 * The facts of every line, in file order, turned into the bundle's failures: the line before each is known
 * here, so order, gaps and the chain's links are checked here. `checkLeaves`: the tree's tiles held, so a
 * leaf that differs (or a seq outside the tree) is a failure.
 */
export class EventLinesFold {
  readonly #context: EventLinesContext;
  readonly #failures: string[];
  readonly #checkLeaves: boolean;
  readonly #chain = new ChainProblems();
  #count = 0;
  #records = 0;
  #outsideTree = 0;
  #before: number | null = null;
  #chainBefore: { seq: number; hash: string | null } | null = null;
  #stopped = false;

  constructor(context: EventLinesContext, failures: string[], checkLeaves: boolean) {
    this.#context = context;
    this.#failures = failures;
    this.#checkLeaves = checkLeaves;
  }

  /** Lines read (up to where too many failures stopped the reading). */
  get count(): number {
    return this.#count;
  }

  /** Lines that were valid records (a version 1 bundle's proof covers exactly these). */
  get records(): number {
    return this.#records;
  }

  /** Adds a batch; false once too many failures stop the reading. */
  add(batch: LineFactsBatch): boolean {
    const failures = this.#failures;
    const { complete } = this.#context;
    for (let i = 0; i < batch.count && !this.#stopped; i++) {
      this.#count++;
      const flags = batch.flags[i] ?? 0;
      if (flags & TOO_LONG) {
        failures.push(`events.jsonl line ${this.#count} is longer than ${MAX_LINE_BYTES} bytes`);
        continue;
      }
      if (flags & INVALID) {
        failures.push(`events.jsonl line ${this.#count} is not a valid record`);
        this.#before = null;
        continue;
      }
      this.#records++;
      const seq = batch.seqs[i] ?? 0;
      const before = this.#before;
      if (before !== null && seq <= before) failures.push(`records out of order: record ${seq} follows record ${before} (line ${this.#count})`);
      else if (before !== null && complete && seq !== before + 1) failures.push(`gap in the exported range: records ${before + 1} to ${seq - 1} are missing`);
      if (flags & OUT_OF_RANGE) failures.push(`record ${seq} is outside the exported range`);
      this.#chainFacts(flags, seq, batch.headPrevHash);
      if (this.#checkLeaves && flags & OUTSIDE_TREE) this.#outsideTree++;
      else if (this.#checkLeaves && flags & LEAF_BAD) failures.push(`record ${seq} is not included in the checkpoint's tree at its place (the record was altered, or the checkpoint replaced)`);
      this.#before = seq;
      if (failures.length > MAX_FAILURES) this.#stopped = true;
    }
    // The chain's last hash, for the link of the next run's first record.
    if (batch.tailHash !== undefined && this.#chainBefore) this.#chainBefore.hash = batch.tailHash;
    return !this.#stopped;
  }

  #chainFacts(flags: number, seq: number, headPrevHash: string | null): void {
    const before = this.#chainBefore;
    if (flags & CHAIN_QUIET) {
      this.#chainBefore = null;
      return;
    }
    if (flags & CHAIN_MALFORMED) {
      this.#chain.note('malformed', String(seq));
      this.#chainBefore = null;
      return;
    }
    this.#chainBefore = { seq, hash: null };
    if (flags & CHAIN_ALTERED) this.#chain.note('altered', String(seq));
    else if (flags & CHAIN_NOT_GENESIS) this.#chain.note('not-genesis', String(seq));
    else if (flags & CHAIN_UNLINKED && before) this.#chain.note('unlinked', String(seq), before.seq);
    else if (flags & CHAIN_HEAD && before && before.hash !== null && before.seq === seq - 1 && headPrevHash !== before.hash) this.#chain.note('unlinked', String(seq), before.seq);
  }

  /** The problems only the whole file shows, after the last batch. */
  finish(truncated: boolean): void {
    if (truncated) this.#failures.push('events.jsonl is truncated (its last line is incomplete)');
    const { firstSeq, treeSize } = this.#context;
    if (this.#outsideTree > 0) this.#failures.push(`${this.#outsideTree} records have seq numbers outside the checkpoint's tree (seq ${firstSeq} to ${firstSeq + treeSize - 1})`);
    this.#failures.push(...this.#chain.list());
  }
}
