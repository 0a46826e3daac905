/**
 * Writes an audit bundle (layout in bundleLayout.ts) a record at a time, so a year's log is exported in
 * bounded memory: records and tiles go straight to the sink, each file's SHA-256 is taken as it is
 * written, and only the report's aggregates stay in memory. Pure: the sink and the crypto are passed in.
 */
import { hex, noteKeyId, signCheckpoint, toBase64, type Checkpoint } from './checkpoint';
import { keyFingerprint, keyRotationsFile, KEY_ROTATIONS_FILE, type SignedKeyRotation } from './keyRotation';
import { CHAIN_BROKEN_FILE, LOG_START_FILE, PROOF_VERSION, README_FILE, bundleReadme, chainBrokenWarning, listedFiles, type AuditCrypto, type AuditSigner, type ChainBreak, type ExportedRecord, type ProofFile } from './bundleLayout';
import { AUDIT_CSV_HEADER, AuditCsv, csvCell } from './csv';
import { AuditDescriber } from './describe';
import { LocalTimes } from './localTimes';
import { AuditNames, DIRECTORY_FILE, EMPTY_DIRECTORY, type AuditDirectory } from './people';
import { AuditReport } from './report';
import { tilePath, type TileRef } from './tiles';

/** Where the bundle's files go: bytes appended to a named file (created by its first append). */
export interface BundleSink {
  append(name: string, bytes: Uint8Array): void;
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
  readonly workstation?: { readonly username: string; readonly displayName: string; readonly deviceName: string };
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

const encoder = new TextEncoder();
const CHUNK = 1 << 20;

export class BundleWriter {
  readonly #crypto: AuditCrypto;
  readonly #sink: BundleSink;
  readonly #header: BundleHeader;
  readonly #digests = new Map<string, { update(data: Uint8Array): void; digest(): Uint8Array }>();
  readonly #pending = new Map<string, { buffer: Uint8Array; used: number }>();
  readonly #tiles: string[] = [];
  readonly #directory: AuditDirectory;
  readonly #describer: AuditDescriber;
  readonly #csv: AuditCsv;
  readonly #report: AuditReport;
  /** One user's export: the user ids its records name, so people.json lists only them. */
  readonly #named: Set<string> | null;
  #records = 0;
  #lastSeq = 0;

  constructor(crypto: AuditCrypto, sink: BundleSink, header: BundleHeader) {
    this.#crypto = crypto;
    this.#sink = sink;
    this.#header = header;
    const warning = header.chainBroken ? chainBrokenWarning(header.chainBroken) : null;
    // One describer for the CSV and the report: each record's facts (who, outcome, counterparty) worked out once.
    const names = new AuditNames(header.directory ?? EMPTY_DIRECTORY);
    this.#directory = names.directory;
    this.#describer = new AuditDescriber(names, new LocalTimes(names.directory.timeZone), header.workstation);
    this.#csv = new AuditCsv(names.directory, { describer: this.#describer });
    this.#named = header.range.user === null ? null : new Set();
    this.#report = new AuditReport({
      title: header.title, origin: header.origin, range: { ...header.range, user: header.username ?? header.range.user }, directory: names.directory,
      generatedAt: header.generatedAt, describer: this.#describer, ...(header.workstation ? { workstation: header.workstation } : {}), ...(warning ? { warning } : {}),
    });
    // A UTF-8 byte order mark first: without it Excel on Windows reads names and quotes as another code page.
    this.#write('events.csv', encoder.encode(`\uFEFF${warning ? `${csvCell(warning)}\r\n` : ''}${AUDIT_CSV_HEADER}`));
    this.#write('events.jsonl', new Uint8Array(0));
  }

  /** One exported record (in seq order) and its exact line in the log's tree. */
  add(record: ExportedRecord, line: string): void {
    if (record.seq <= this.#lastSeq) throw new Error(`records must be added in order (${record.seq} after ${this.#lastSeq})`);
    this.#lastSeq = record.seq;
    this.#records++;
    this.#buffered('events.jsonl', `${line}\n`);
    const facts = this.#describer.facts(record);
    if (this.#named) for (const party of [facts.actor, facts.subject, ...facts.counterparties]) if (party.userId) this.#named.add(party.userId);
    this.#buffered('events.csv', this.#csv.row(record, facts));
    this.#report.add(record, facts);
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
  finish(tree: ExportedTree): string {
    const h = this.#header;
    for (const name of this.#pending.keys()) this.#flush(name);
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
    this.#write('report.html', encoder.encode(this.#report.render({ signerFingerprint: signer, treeSize: tree.size, rootHash: hex(tree.root), firstSeq: h.firstSeq, kind: h.workstation ? 'workstation' : 'relay', ...(h.workstation ? { workstation: h.workstation } : {}) })));
    this.#write(DIRECTORY_FILE, encoder.encode(`${JSON.stringify(this.#namedDirectory(), null, 1)}\n`));
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

  /** Text for a big file, encoded straight into a chunk buffer and written a megabyte at a time. */
  #buffered(name: string, text: string): void {
    let pending = this.#pending.get(name);
    if (!pending) this.#pending.set(name, (pending = { buffer: new Uint8Array(CHUNK), used: 0 }));
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    if (pending.used + text.length * 3 > CHUNK) {
      this.#flush(name);
      if (text.length * 3 > CHUNK) return this.#write(name, encoder.encode(text));
    }
    pending.used += encoder.encodeInto(text, pending.buffer.subarray(pending.used)).written;
  }

  #flush(name: string): void {
    const pending = this.#pending.get(name);
    if (!pending || pending.used === 0) return;
    this.#write(name, pending.buffer.slice(0, pending.used));
    pending.used = 0;
  }

  /** The whole directory, or for one user's export only the people (and their workstations) its records name. */
  #namedDirectory(): AuditDirectory {
    const named = this.#named;
    if (!named) return this.#directory;
    return { ...this.#directory, people: this.#directory.people.filter((p) => named.has(p.userId)), workstations: this.#directory.workstations.filter((w) => named.has(w.userId)) };
  }

  #write(name: string, bytes: Uint8Array): void {
    let digest = this.#digests.get(name);
    if (!digest) this.#digests.set(name, (digest = this.#crypto.sha256Stream()));
    digest.update(bytes);
    this.#sink.append(name, bytes);
  }
}

const NEWLINE = encoder.encode('\n');
