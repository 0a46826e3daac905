/**
 * Audit export bundles: what they hold, how they are built and how they are verified. Pure (no Node, no
 * files): the caller passes the crypto (SHA-256, Ed25519) and reads or writes the files. The relay, the
 * client and `rounds-audit verify` all use this one definition.
 *
 *   events.jsonl   one canonical JSON record per line (the exact bytes of each Merkle leaf)
 *   events.csv     the same records for spreadsheets
 *   checkpoint     signed tree head (C2SP tlog-checkpoint) over the whole log at export time
 *   proof.json     inclusion proof of the exported records, consistency proofs from earlier exports
 *   report.html    a human summary (no scripts, no network)
 *   signer.pub.pem the Ed25519 public key
 *   key-rotations.json  (relay bundles) the log's signed key rotations, see keyRotation.ts
 *   CHAIN-BROKEN.txt    only in a bundle exported with --allow-broken: says where the hash chain broke
 *   SHA256SUMS     sha256sum-format digests of all of the above
 *   SHA256SUMS.sig Ed25519 signature over SHA256SUMS
 */
import { fromBase64, hex, noteKeyId, parseCheckpoint, signCheckpoint, toBase64, type Checkpoint } from './checkpoint';
import { KEY_ROTATIONS_FILE, keyFingerprint, keyRotationsFile, parseKeyRotationsFile, readKeyRotation, rotationPath, type KeyRotation, type SignedKeyRotation } from './keyRotation';
import { MerkleTree, equal, item, leafHash, rootFromMultiProof, verifyConsistency, type Hash } from './merkle';
import { chainProblems } from './recordChain';
import { renderReport } from './report';

export { hex };

export interface AuditCrypto {
  readonly sha256: Hash;
  /** Ed25519 verification with a PEM (SPKI) public key; false for a bad key or signature. */
  verify(publicKeyPem: string, data: Uint8Array, signature: Uint8Array): boolean;
  /** The raw 32-byte Ed25519 key inside a PEM (SPKI) public key, or null. */
  rawPublicKey(publicKeyPem: string): Uint8Array | null;
}

export interface AuditSigner {
  readonly publicKeyPem: string;
  sign(data: Uint8Array): Uint8Array;
}

/** A log record as exported: `seq` numbers the whole log from 1 without gaps (leaf index = seq - 1). */
export interface ExportedRecord {
  readonly seq: number;
  readonly at: number;
  readonly type: string;
  readonly [field: string]: unknown;
}

export const BUNDLE_FILES = ['events.jsonl', 'events.csv', 'checkpoint', 'proof.json', 'report.html', 'signer.pub.pem'] as const;
/** Checkpoint origins of relay logs: their records carry the hash chain (recordChain.ts), which verify requires. */
export const RELAY_ORIGIN_PREFIX = 'rounds.relay/';
/** Written by an export of a log whose hash chain is broken (`--allow-broken`): one more place that says so. */
export const CHAIN_BROKEN_FILE = 'CHAIN-BROKEN.txt';
/** Files a bundle may hold besides BUNDLE_FILES; when present, SHA256SUMS must list them. */
export const OPTIONAL_FILES = [KEY_ROTATIONS_FILE, CHAIN_BROKEN_FILE] as const;
export const MAX_LINE_BYTES = 64 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

const quoted = new Map<string, string>();
const quote = (key: string) => {
  let q = quoted.get(key);
  if (q === undefined) {
    q = JSON.stringify(key);
    if (quoted.size < 10_000) quoted.set(key, q);
  }
  return q;
};

/** JSON with object keys sorted at every level and no whitespace: one byte string per record. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i > 0 ? ',' : '') + canonicalJson(value[i]);
    return `${out}]`;
  }
  const keys = Object.keys(value).sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = item(keys, i);
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined) continue;
    out += (out.length > 1 ? ',' : '') + quote(key) + ':' + canonicalJson(v);
  }
  return `${out}}`;
}

export interface BuildInput {
  /** The log's name in checkpoints, e.g. `rounds.relay/3f2a…` or `rounds.client/<user>.<device>`. */
  readonly origin: string;
  /** What the export covers: the time range [from, to) and, for one user's export, that user. */
  readonly range: { readonly from: number; readonly to: number; readonly user: string | null };
  /** Every record of the log, in order (the tree is over all of them). */
  readonly all: readonly ExportedRecord[];
  /** Which of them are exported (sorted by seq). */
  readonly selected: readonly ExportedRecord[];
  /** Tree sizes of earlier exports: a consistency proof from each is included. */
  readonly earlierSizes: readonly number[];
  readonly signer: AuditSigner;
  readonly title: string;
  readonly generatedAt: number;
  /** The log's key rotation statements, oldest first: written to key-rotations.json (a relay log's, even none). */
  readonly rotations?: readonly SignedKeyRotation[];
  /** The first record where the log's hash chain does not hold, when it is exported anyway (--allow-broken). */
  readonly chainBroken?: ChainBreak;
}

export interface ChainBreak {
  readonly seq: number;
  readonly reason: string;
}

/** The one sentence every file of a broken log's bundle carries. */
export function chainBrokenWarning(broken: ChainBreak): string {
  return `WARNING: this log's hash chain is broken at record ${broken.seq} (${broken.reason}). It was exported anyway (--allow-broken) as evidence: rounds-audit verify fails it, and no record in it can be trusted until the break is explained.`;
}

export function buildBundle(crypto: AuditCrypto, input: BuildInput): Map<string, Uint8Array> {
  const lines = input.all.map((r) => canonicalJson(r));
  const tree = new MerkleTree(crypto.sha256, lines.map((l) => leafHash(crypto.sha256, encoder.encode(l))));
  // Leaf index = position in the log (= seq - 1 in an intact log; a broken one exported as evidence may have gaps).
  const position = new Map(input.all.map((r, i) => [r, i]));
  const indices = input.selected.map((r) => position.get(r) ?? r.seq - 1);
  const warning = input.chainBroken ? chainBrokenWarning(input.chainBroken) : null;
  const publicKey = crypto.rawPublicKey(input.signer.publicKeyPem);
  if (!publicKey) throw new Error('the audit signing key is not an Ed25519 key');
  const keyName = input.origin;
  const checkpoint: Checkpoint = { origin: input.origin, size: tree.size, root: tree.root(), extensions: [] };
  const files = new Map<string, Uint8Array>();
  files.set('events.jsonl', encoder.encode(indices.map((i) => `${item(lines, i)}\n`).join('')));
  files.set('events.csv', encoder.encode(`${warning ? `${csvCell(warning)}\r\n` : ''}${toCsv(input.selected)}`));
  files.set('checkpoint', encoder.encode(signCheckpoint(checkpoint, keyName, noteKeyId(crypto.sha256, keyName, publicKey), (body) => input.signer.sign(body))));
  const proof: ProofFile = {
    version: 1,
    treeSize: tree.size,
    range: input.range,
    complete: input.range.user === null,
    indices,
    inclusion: tree.multiProof(indices).map(toBase64),
    consistency: [...new Set(input.earlierSizes)].filter((m) => m > 0 && m < tree.size).map((m) => ({ fromSize: m, proof: tree.consistencyProof(m).map(toBase64) })),
    ...(input.chainBroken ? { chainBroken: { seq: input.chainBroken.seq, reason: input.chainBroken.reason, warning: warning ?? '' } } : {}),
  };
  files.set('proof.json', encoder.encode(`${JSON.stringify(proof, null, 1)}\n`));
  files.set('report.html', encoder.encode(renderReport({ title: input.title, origin: input.origin, range: input.range, records: input.selected, treeSize: tree.size, generatedAt: input.generatedAt, ...(warning ? { warning } : {}) })));
  files.set('signer.pub.pem', encoder.encode(input.signer.publicKeyPem));
  if (input.rotations) files.set(KEY_ROTATIONS_FILE, keyRotationsFile(input.rotations));
  if (warning) files.set(CHAIN_BROKEN_FILE, encoder.encode(`${warning}\n`));
  const sums = [...BUNDLE_FILES, ...OPTIONAL_FILES].filter((name) => files.has(name)).map((name) => `${hex(crypto.sha256(files.get(name) ?? new Uint8Array()))}  ${name}\n`).join('');
  files.set('SHA256SUMS', encoder.encode(sums));
  files.set('SHA256SUMS.sig', input.signer.sign(encoder.encode(sums)));
  return files;
}

interface ProofFile {
  version: 1;
  treeSize: number;
  range: { from: number; to: number; user: string | null };
  complete: boolean;
  indices: number[];
  inclusion: string[];
  consistency: { fromSize: number; proof: string[] }[];
  /** Only in a bundle of a broken log (--allow-broken). */
  chainBroken?: { seq: number; reason: string; warning: string };
}

export interface VerifyOptions {
  /** The key the auditor expects (PEM); without it, the bundle's own signer.pub.pem is used. */
  readonly expectedKeyPem?: string;
  /** An earlier bundle of the same log: it is verified too, and the new one must extend it, signed by the same key or one it rotated to. */
  readonly previous?: ReadonlyMap<string, Uint8Array>;
}

export interface Verdict {
  readonly ok: boolean;
  /** Each problem in plain words (empty when ok). */
  readonly failures: string[];
  readonly records: number;
  readonly treeSize: number | null;
  readonly origin: string | null;
  /** SHA-256 of the signer's raw public key, hex: the fingerprint `rounds-server audit key` prints (null if unreadable). */
  readonly signerFingerprint: string | null;
  /** The signer is the key given with --key (without --key the result holds only if the fingerprint is the organisation's). */
  readonly keyMatched: boolean;
  /** With a previous bundle signed by another key: the signed rotations that lead from its key to this one's, oldest first. */
  readonly keyChanges: readonly KeyRotation[];
  /** What the result rests on besides the checks (printed after the verdict). */
  readonly notes: string[];
}

/** Checks a bundle completely and reports every problem found, never throwing on bad input. */
export function verifyBundle(crypto: AuditCrypto, files: ReadonlyMap<string, Uint8Array>, options: VerifyOptions = {}): Verdict {
  const failures: string[] = [];
  const notes: string[] = [];
  let signerFingerprint: string | null = null;
  let keyMatched = false;
  let keyChanges: KeyRotation[] = [];
  const text = (name: string): string | null => {
    const bytes = files.get(name);
    if (!bytes) return null;
    try {
      return decoder.decode(bytes);
    } catch {
      failures.push(`${name} is not UTF-8 text`);
      return null;
    }
  };
  const done = (records = 0, treeSize: number | null = null, origin: string | null = null): Verdict => ({ ok: failures.length === 0, failures, records, treeSize, origin, signerFingerprint, keyMatched, keyChanges, notes });

  // 1. The signature over SHA256SUMS, by the expected key.
  const pem = text('signer.pub.pem');
  const sums = files.get('SHA256SUMS');
  const sig = files.get('SHA256SUMS.sig');
  for (const name of ['SHA256SUMS', 'SHA256SUMS.sig', ...BUNDLE_FILES]) if (!files.has(name)) failures.push(`${name} is missing`);
  if (!pem || !sums || !sig) return done();
  const signerKey = crypto.rawPublicKey(pem);
  if (!signerKey) return (failures.push('signer.pub.pem is not an Ed25519 public key'), done());
  signerFingerprint = keyFingerprint(crypto.sha256, signerKey);
  if (options.expectedKeyPem !== undefined) {
    const expected = crypto.rawPublicKey(options.expectedKeyPem);
    if (!expected) failures.push('the key given with --key is not an Ed25519 public key');
    else if (!equal(expected, signerKey)) failures.push('the bundle is signed by a different key than the one given with --key');
    else keyMatched = true;
  }
  if (!crypto.verify(pem, sums, sig)) failures.push('SHA256SUMS.sig is not a valid signature of SHA256SUMS by signer.pub.pem');

  // 2. Every digest: the required files and the optional ones present must be listed; whatever is listed must be there.
  const listed = new Map<string, string>();
  for (const line of (text('SHA256SUMS') ?? '').split('\n')) {
    if (line === '') continue;
    const [, digest, name] = /^([0-9a-f]{64}) [ *](.+)$/.exec(line) ?? [];
    if (!digest || !name) {
      failures.push(`SHA256SUMS has a malformed line: ${line.slice(0, 80)}`);
      continue;
    }
    listed.set(name, digest);
  }
  for (const name of [...BUNDLE_FILES, ...OPTIONAL_FILES.filter((n) => files.has(n))]) if (!listed.has(name)) failures.push(`${name} is not listed in SHA256SUMS`);
  for (const [name, digest] of listed) {
    const bytes = files.get(name);
    if (!bytes) {
      if (!(BUNDLE_FILES as readonly string[]).includes(name)) failures.push(`${name} is listed in SHA256SUMS but missing (removed after export)`);
    } else if (hex(crypto.sha256(bytes)) !== digest) failures.push(`${name} does not match its digest in SHA256SUMS (changed after export)`);
  }

  // 3. The checkpoint: well formed, signed by the same key.
  const note = parseCheckpoint(text('checkpoint') ?? '');
  if (!note.ok) return (failures.push(`checkpoint: ${note.reason}`), done());
  const { checkpoint } = note;
  const keyId = noteKeyId(crypto.sha256, checkpoint.origin, signerKey);
  const signed = note.signatures.some((s) => s.keyName === checkpoint.origin && equal(s.keyId, keyId) && crypto.verify(pem, encoder.encode(note.body), s.signature));
  if (!signed) failures.push('checkpoint is not signed by signer.pub.pem for its origin');

  // 4. The records: parse, order, no gap, their hash chain, and inclusion in the checkpoint's tree.
  let proof: ProofFile;
  try {
    proof = JSON.parse(text('proof.json') ?? '') as ProofFile;
    if (proof.version !== 1 || !Array.isArray(proof.indices) || !Array.isArray(proof.inclusion) || !Array.isArray(proof.consistency)) throw new Error('shape');
  } catch {
    return (failures.push('proof.json is not a valid proof file'), done(0, checkpoint.size, checkpoint.origin));
  }
  if (proof.treeSize !== checkpoint.size) failures.push(`proof.json is for a tree of ${proof.treeSize} records, the checkpoint for ${checkpoint.size}`);
  // Exported with --allow-broken: the relay found its chain broken, possibly outside the exported records.
  if (proof.chainBroken) failures.push(`the log's hash chain was broken at record ${String(proof.chainBroken.seq)} when this bundle was exported (${String(proof.chainBroken.reason)}); it was exported with --allow-broken, as evidence only`);
  else if (files.has(CHAIN_BROKEN_FILE)) failures.push(`${CHAIN_BROKEN_FILE}: ${(text(CHAIN_BROKEN_FILE) ?? '').trim().slice(0, 300)}`);
  const eventsText = text('events.jsonl') ?? '';
  if (eventsText.length > 0 && !eventsText.endsWith('\n')) failures.push('events.jsonl is truncated (its last line is incomplete)');
  const lines = eventsText.split('\n').filter((l, i, all) => !(l === '' && i === all.length - 1));
  const records: ExportedRecord[] = [];
  lines.forEach((line, i) => {
    if (encoder.encode(line).length > MAX_LINE_BYTES) return void failures.push(`events.jsonl line ${i + 1} is longer than ${MAX_LINE_BYTES} bytes`);
    try {
      const record = JSON.parse(line) as ExportedRecord;
      if (!Number.isInteger(record.seq) || typeof record.at !== 'number' || typeof record.type !== 'string') throw new Error('fields');
      records.push(record);
    } catch {
      failures.push(`events.jsonl line ${i + 1} is not a valid record`);
    }
  });
  records.forEach((r, i) => {
    const before = records[i - 1];
    if (before && r.seq <= before.seq) failures.push(`records out of order: record ${r.seq} follows record ${before.seq} (line ${i + 1})`);
    else if (before && proof.complete && r.seq !== before.seq + 1) failures.push(`gap in the exported range: records ${before.seq + 1} to ${r.seq - 1} are missing`);
    if (r.at < proof.range.from || r.at >= proof.range.to) failures.push(`record ${r.seq} is outside the exported range`);
  });
  // The relay's records carry their hash chain: recomputed here, by the relay's own rule.
  failures.push(...chainProblems(crypto.sha256, records, checkpoint.origin.startsWith(RELAY_ORIGIN_PREFIX)));
  if (records.length !== proof.indices.length) failures.push(`events.jsonl has ${records.length} records, the proof covers ${proof.indices.length}`);
  else if (records.some((r, i) => r.seq - 1 !== proof.indices[i])) failures.push('the records are not the ones the proof covers (changed, removed, added or reordered)');
  else {
    const leaves = lines.map((l) => leafHash(crypto.sha256, encoder.encode(l)));
    const hashes = proof.inclusion.map((h) => fromBase64(h));
    const root = hashes.every((h): h is Uint8Array => h !== null) ? rootFromMultiProof(crypto.sha256, checkpoint.size, proof.indices, leaves, hashes) : null;
    if (!root || !equal(root, checkpoint.root)) failures.push('the records are not included in the checkpoint\'s tree (a record was altered, or the checkpoint replaced)');
  }

  // 5. The log's key rotations: each statement signed by the key it retires, for this log.
  const rotations: KeyRotation[] = [];
  if (files.has(KEY_ROTATIONS_FILE)) {
    const statements = parseKeyRotationsFile(text(KEY_ROTATIONS_FILE) ?? '');
    if (!statements) failures.push(`${KEY_ROTATIONS_FILE} is not a list of key rotation statements`);
    statements?.forEach((s, i) => {
      const read = readKeyRotation(crypto, s, checkpoint.origin);
      if (read.ok) rotations.push(read.rotation);
      else failures.push(`${KEY_ROTATIONS_FILE}: rotation ${i + 1} ${read.reason}`);
    });
  }

  // 6. An earlier bundle: itself intact, signed by this key or one that rotated to it, and this checkpoint extends its checkpoint.
  if (options.previous) {
    const earlier = verifyBundle(crypto, options.previous);
    failures.push(...earlier.failures.map((f) => `the previous bundle: ${f}`));
    const old = parseCheckpoint(options.previous.has('checkpoint') ? new TextDecoder().decode(options.previous.get('checkpoint')) : '');
    if (earlier.signerFingerprint && earlier.signerFingerprint !== signerFingerprint) {
      const path = rotationPath(rotations, earlier.signerFingerprint, signerFingerprint);
      if (path) {
        keyChanges = path;
        notes.push(...path.map((r) => `the audit key was rotated on ${r.time} from ${r.oldFingerprint} to ${r.newFingerprint}, in a statement signed by the old key`));
      } else if (keyMatched) {
        notes.push(`the previous bundle is signed by ${earlier.signerFingerprint}, and no signed rotation leads from it to this bundle's key: this bundle is accepted on the key given with --key`);
      } else {
        failures.push(`the previous bundle is signed by audit key ${earlier.signerFingerprint} and this one by ${signerFingerprint}, and no rotation statement signed by the previous key leads to this one: this bundle may have been re-signed by someone else. (A rotation made before Rounds signed its rotations has no statement: check this bundle with --key and the organisation's public key on record.)`);
      }
    }
    if (!old.ok) failures.push(`the previous bundle's checkpoint: ${old.reason}`);
    else if (old.checkpoint.origin !== checkpoint.origin) failures.push(`the previous bundle is from another log (${old.checkpoint.origin})`);
    else if (old.checkpoint.size > checkpoint.size) failures.push('the previous bundle covers more records than this one: the log was cut');
    else {
      const entry = old.checkpoint.size === checkpoint.size ? { fromSize: old.checkpoint.size, proof: [] } : proof.consistency.find((c) => c.fromSize === old.checkpoint.size);
      const path = entry?.proof.map((h) => fromBase64(h));
      if (!entry || !path || path.some((h) => h === null)) failures.push(`no consistency proof from the previous bundle's ${old.checkpoint.size} records`);
      else if (!verifyConsistency(crypto.sha256, old.checkpoint.size, checkpoint.size, old.checkpoint.root, checkpoint.root, path as Uint8Array[])) {
        failures.push(`this log is not an extension of the previous bundle's: records among the first ${old.checkpoint.size} were rewritten between the exports`);
      }
    }
  }
  return done(records.length, checkpoint.size, checkpoint.origin);
}

function csvCell(v: unknown): string {
  const s = typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function toCsv(records: readonly ExportedRecord[]): string {
  const cell = csvCell;
  const keys = new Set<string>();
  for (const r of records) for (const k in r) keys.add(k);
  const extra = [...keys].filter((k) => !['seq', 'at', 'type'].includes(k)).sort();
  const header = ['seq', 'time_utc', 'type', ...extra];
  return [header.join(','), ...records.map((r) => [r.seq, new Date(r.at).toISOString(), r.type, ...extra.map((k) => r[k])].map(cell).join(','))].join('\r\n') + '\r\n';
}
