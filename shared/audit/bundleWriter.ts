/**
 * Writes an audit bundle (layout in bundleLayout.ts) a record at a time, so a year's log is exported in
 * bounded memory: records and tiles go straight to the sink, each file's SHA-256 is taken as it is
 * written, and only the report's aggregates stay in memory. Pure: the sink and the crypto are passed in.
 */
import { hex, noteKeyId, signCheckpoint, toBase64, type Checkpoint } from './checkpoint';
import { keyFingerprint, keyRotationsFile, KEY_ROTATIONS_FILE, type SignedKeyRotation } from './keyRotation';
import { CHAIN_BROKEN_FILE, LOG_START_FILE, PROOF_VERSION, README_FILE, bundleReadme, chainBrokenWarning, digestIs, listedFiles, type AuditCrypto, type AuditSigner, type ChainBreak, type ExportedRecord, type ProofFile } from './bundleLayout';
import { ExportReadout, type ReadoutHeader, type ReadoutResult } from './exportReadout';
import type { AuditLogOwner } from './describe';
import { DIRECTORY_FILE, type AuditDirectory } from './people';
import type { AuditReportVerification } from './report';
import { tilePath, type TileRef } from './tiles';

/** Where the bundle's files go: bytes appended to a named file (created by its first append). */
export interface BundleSink {
  append(name: string, bytes: Uint8Array): void;
  /** A sink that writes aside: resolves once everything appended is written, rejects as the first write failed. */
  settled?(): Promise<void>;
  /**
   * A sink that writes tiles aside: resolves once it takes another tile without writing it on the caller's
   * thread (absent: any time). A writer that waits for it between tiles never blocks on creating files.
   */
  tileRoom?(): Promise<void> | null;
}

export interface BundleHeader {
  /** The log's name in checkpoints, e.g. `rounds.relay/3f2a…` or `rounds.client/<user>.<device>`. */
  readonly origin: string;
  /** What the export covers: the time range [from, to) and, for one user's export, that user. */
  readonly range: { readonly from: number; readonly to: number; readonly user: string | null };
  /** The seq of the log's first record (leaf 0): 1, or the record a restore began a new log with. */
  readonly firstSeq: number;
  readonly signer: AuditSigner;
  readonly title: string;
  readonly generatedAt: number;
  /** The log's key rotation statements, oldest first: written to key-rotations.json (a relay log's, even none). */
  readonly rotations?: readonly SignedKeyRotation[];
  /** The first record where the log's hash chain does not hold, when it is exported anyway (--allow-broken). */
  readonly chainBroken?: ChainBreak;
  /** Who the ids in the records are (people.json, the report, events.csv). */
  readonly directory?: AuditDirectory;
  /** A workstation bundle: whose workstation it is. */
  readonly workstation?: AuditLogOwner;
  /** One user's export: their username, for the report (range.user is their id). */
  readonly username?: string;
}

/** The tree the records are in, at export time. */
export interface ExportedTree {
  readonly size: number;
  readonly root: Uint8Array;
  /** Proofs that the trees of earlier exports' sizes are prefixes of this one. */
  readonly consistency: readonly { readonly fromSize: number; readonly proof: readonly Uint8Array[] }[];
}

/**
 * Where events.jsonl's lines go to be read for events.csv, report.html and people.json when that runs
 * elsewhere (a worker thread, for a year's export): each chunk of whole lines. The caller then hands
 * events.csv's bytes to `appendCsv` as they come, and the readout's result to `finish`, with the digest of
 * events.csv taken there (ReadoutResult.digests): the writer's thread does not hash it again.
 */
export type ReadoutElsewhere = (chunk: Uint8Array) => void;

const encoder = new TextEncoder();
const CHUNK = 1 << 20;

export class BundleWriter {
  readonly #crypto: AuditCrypto;
  readonly #sink: BundleSink;
  readonly #header: BundleHeader;
  readonly #digests = new Map<string, { update(data: Uint8Array): void; digest(): Uint8Array }>();
  readonly #lines = { buffer: new Uint8Array(CHUNK), used: 0 };
  readonly #tiles: string[] = [];
  readonly #readout: ExportReadout | ReadoutElsewhere;
  /** The line being added, after a zero byte: its leaf hash is SHA-256 over both. */
  #scratch = new Uint8Array(64 * 1024);
  #records = 0;
  #lastSeq = 0;

  /** `readout`: elsewhere (see ReadoutElsewhere); by default here, as the lines are written. */
  constructor(crypto: AuditCrypto, sink: BundleSink, header: BundleHeader, readout?: ReadoutElsewhere) {
    this.#crypto = crypto;
    this.#sink = sink;
    this.#header = header;
    this.#readout = readout ?? new ExportReadout(readoutHeader(header), (bytes) => this.appendCsv(bytes));
    this.#write('events.jsonl', new Uint8Array(0));
  }

  /**
   * One exported record (in seq order) and its exact line in the log's tree. With `leaf`, the tree's leaf for
   * it, the line is added only if it is that leaf's: false (nothing added) when it is not.
   */
  add(record: Pick<ExportedRecord, 'seq'>, line: string, leaf?: Uint8Array): boolean {
    if (record.seq <= this.#lastSeq) throw new Error(`records must be added in order (${record.seq} after ${this.#lastSeq})`);
    // UTF-8 takes at most 3 bytes per UTF-16 unit; the zero byte and the newline one each.
    const room = line.length * 3 + 2;
    if (room > this.#scratch.length) this.#scratch = new Uint8Array(room);
    const scratch = this.#scratch;
    scratch[0] = 0;
    const end = 1 + encoder.encodeInto(line, scratch.subarray(1)).written;
    if (leaf && !digestIs(this.#crypto, scratch.subarray(0, end), leaf)) return false;
    this.#lastSeq = record.seq;
    this.#records++;
    scratch[end] = 10;
    const bytes = scratch.subarray(1, end + 1);
    if (this.#lines.used + bytes.length > CHUNK) this.#flushLines();
    if (bytes.length > CHUNK) {
      const whole = bytes.slice();
      this.#write('events.jsonl', whole);
      this.#handOver(whole);
      return true;
    }
    this.#lines.buffer.set(bytes, this.#lines.used);
    this.#lines.used += bytes.length;
    return true;
  }

  #flushLines(): void {
    const { buffer, used } = this.#lines;
    if (used === 0) return;
    const chunk = buffer.slice(0, used);
    this.#write('events.jsonl', chunk);
    this.#handOver(chunk);
    this.#lines.used = 0;
  }

  #handOver(chunk: Uint8Array): void {
    if (this.#readout instanceof ExportReadout) this.#readout.lines(chunk);
    else this.#readout(chunk);
  }

  /** events.csv's bytes, in order (from a readout elsewhere). */
  appendCsv(bytes: Uint8Array): void {
    this.#write('events.csv', bytes);
  }

  /** After the last record: the last lines go to the readout (call before reading its result elsewhere). */
  endRecords(): void {
    this.#flushLines();
  }

  /** What the signatures will cover, for the report (the readout elsewhere renders it with this). */
  verification(tree: ExportedTree): AuditReportVerification {
    const h = this.#header;
    const publicKey = this.#crypto.rawPublicKey(h.signer.publicKeyPem);
    if (!publicKey) throw new Error('the audit signing key is not an Ed25519 key');
    return { signerFingerprint: keyFingerprint(this.#crypto.sha256, publicKey), treeSize: tree.size, rootHash: hex(tree.root), firstSeq: h.firstSeq, kind: h.workstation ? 'workstation' : 'relay', ...(h.workstation ? { workstation: h.workstation } : {}) };
  }

  /** The readout's result, when it runs here (after endRecords). */
  readout(tree: ExportedTree): ReadoutResult {
    if (!(this.#readout instanceof ExportReadout)) throw new Error('the readout runs elsewhere: its result comes from there');
    this.endRecords();
    return this.#readout.finish(this.verification(tree));
  }

  get records(): number {
    return this.#records;
  }

  /** One tile of the log's tree (every tile of the tree's size, in tilesOfTree order). */
  addTile(tile: TileRef, hashes: Uint8Array): void {
    const name = tilePath(tile);
    this.#tiles.push(name);
    this.#write(name, hashes);
  }

  /** The first record of a log begun by a restore (firstSeq > 1): its line, so the verifier can follow the restore. */
  logStart(line: Uint8Array): void {
    this.#write(LOG_START_FILE, line);
    this.#write(LOG_START_FILE, NEWLINE);
  }

  /**
   * Writes the checkpoint, proofs, report, directory and README, then SHA256SUMS and its signature. Returns
   * the signed checkpoint note (for the relay to remember before it hands the bundle out).
   */
  finish(tree: ExportedTree, readout: ReadoutResult = this.readout(tree)): string {
    const h = this.#header;
    this.endRecords();
    this.#digestsFrom(readout);
    const publicKey = this.#crypto.rawPublicKey(h.signer.publicKeyPem);
    if (!publicKey) throw new Error('the audit signing key is not an Ed25519 key');
    const warning = h.chainBroken ? chainBrokenWarning(h.chainBroken) : null;
    const checkpoint: Checkpoint = { origin: h.origin, size: tree.size, root: tree.root, extensions: [] };
    const note = signCheckpoint(checkpoint, h.origin, noteKeyId(this.#crypto.sha256, h.origin, publicKey), (body) => h.signer.sign(body));
    this.#write('checkpoint', encoder.encode(note));
    const proof: ProofFile = {
      version: PROOF_VERSION,
      treeSize: tree.size,
      firstSeq: h.firstSeq,
      range: h.range,
      complete: h.range.user === null,
      tiles: 'tile/',
      consistency: tree.consistency.map((c) => ({ fromSize: c.fromSize, proof: c.proof.map(toBase64) })),
      ...(h.chainBroken ? { chainBroken: { seq: h.chainBroken.seq, reason: h.chainBroken.reason, warning: warning ?? '' } } : {}),
    };
    this.#write('proof.json', encoder.encode(`${JSON.stringify(proof, null, 1)}\n`));
    const signer = keyFingerprint(this.#crypto.sha256, publicKey);
    this.#write('report.html', encoder.encode(readout.report));
    this.#write(DIRECTORY_FILE, encoder.encode(`${JSON.stringify(readout.people, null, 1)}\n`));
    this.#write(README_FILE, encoder.encode(bundleReadme({ origin: h.origin, size: tree.size, root: hex(tree.root), firstSeq: h.firstSeq, signer, records: this.#records })));
    this.#write('signer.pub.pem', encoder.encode(h.signer.publicKeyPem));
    if (h.rotations) this.#write(KEY_ROTATIONS_FILE, keyRotationsFile(h.rotations));
    if (warning) this.#write(CHAIN_BROKEN_FILE, encoder.encode(`${warning}\n`));
    const sums = listedFiles([...this.#digests.keys()]).map((name) => `${hex(this.#digests.get(name)?.digest() ?? new Uint8Array())}  ${name}\n`).join('');
    const sumsBytes = encoder.encode(sums);
    this.#sink.append('SHA256SUMS', sumsBytes);
    this.#sink.append('SHA256SUMS.sig', h.signer.sign(sumsBytes));
    return note;
  }

  #write(name: string, bytes: Uint8Array): void {
    let digest = this.#digests.get(name);
    if (!digest) this.#digests.set(name, (digest = this.#readout instanceof ExportReadout || !HASHED_ELSEWHERE.has(name) ? this.#crypto.sha256Stream() : awaitingDigest(name)));
    digest.update(bytes);
    this.#sink.append(name, bytes);
  }

  /** The digests a readout elsewhere took of the files it hashed (HASHED_ELSEWHERE), in place of the ones awaited. */
  #digestsFrom(readout: ReadoutResult): void {
    if (this.#readout instanceof ExportReadout) return;
    const { digests } = readout;
    if (!digests) throw new Error('the readout elsewhere sent no digest of events.csv');
    if (this.#digests.has('events.csv')) this.#digests.set('events.csv', { update: () => undefined, digest: () => digests.csv });
  }
}

const NEWLINE = encoder.encode('\n');

/**
 * The files a readout elsewhere hashes as it makes them. events.jsonl is hashed here: the readout thread is the
 * longer of the two (describing a record costs more than reading and checking it).
 */
const HASHED_ELSEWHERE: ReadonlySet<string> = new Set(['events.csv']);

/** A file's digest that a readout elsewhere takes: asked for before its result came, it is a bug, not a bundle. */
function awaitingDigest(name: string): { update(data: Uint8Array): void; digest(): Uint8Array } {
  return {
    update: () => undefined,
    digest: () => {
      throw new Error(`${name}'s digest comes from the readout elsewhere, and it has not come`);
    },
  };
}

/** The part of the header the readout reads. */
export function readoutHeader(h: BundleHeader): ReadoutHeader {
  const warning = h.chainBroken ? chainBrokenWarning(h.chainBroken) : null;
  return {
    origin: h.origin, range: h.range, title: h.title, generatedAt: h.generatedAt,
    ...(h.directory ? { directory: h.directory } : {}), ...(h.workstation ? { workstation: h.workstation } : {}), ...(h.username ? { username: h.username } : {}), ...(warning ? { warning } : {}),
  };
}
