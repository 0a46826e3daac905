/**
 * `rounds-audit verify`'s checks of one bundle (and, with --previous, of the earlier one it must extend),
 * reading the big files a chunk at a time so a year's bundle is checked in bounded memory. Pure: the
 * files come through a BundleReader, the crypto through AuditCrypto. Every malformed input is a failure
 * in plain words, never an exception.
 */
import { fromBase64, hex, noteKeyId, parseCheckpoint, type Checkpoint } from './checkpoint';
import { KEY_ROTATIONS_FILE, keyFingerprint, parseKeyRotationsFile, readKeyRotation, rotationPath, type KeyRotation } from './keyRotation';
import { BUNDLE_FILES, CHAIN_BROKEN_FILE, LOG_START_FILE, OPTIONAL_FILES, RELAY_ORIGIN_PREFIX, V2_FILES, type AuditCrypto, type ExportedRecord, type ProofFile } from './bundleLayout';
import { equal, leafHash, rootFromMultiProof, verifyConsistency } from './merkle';
import { EventLineFacts, EventLinesFold, lines, type EventLinesContext, type LineFactsBatch } from './eventLines';
import { followRestore, rotationOrigin } from './restoreLink';
import { TileTree, checkTiles, tilePath, type TileRef } from './tiles';

/** A bundle's files, however they are stored (a directory, a zip in memory). */
export interface BundleReader {
  has(name: string): boolean;
  /** Every file's name (tiles as `tile/...`). */
  names(): readonly string[];
  /** A small file's bytes, or null when it is missing. */
  read(name: string): Uint8Array | null;
  /** A file's bytes in order, a chunk at a time (a missing file has none); a chunk may be reused for the next: keep a copy. */
  chunks(name: string): Iterable<Uint8Array>;
}

/** A bundle held in memory (a zip's entries, a bundle just built). */
export function mapReader(files: ReadonlyMap<string, Uint8Array>): BundleReader {
  return {
    has: (name) => files.has(name),
    names: () => [...files.keys()],
    read: (name) => files.get(name) ?? null,
    *chunks(name) {
      const bytes = files.get(name);
      if (bytes) yield bytes;
    },
  };
}

export interface VerifyOptions {
  /** The key the auditor expects (PEM); without it, the bundle's own signer.pub.pem is used. */
  readonly expectedKeyPem?: string;
  /** An earlier bundle of the same log: it is verified too, and the new one must extend it, signed by the same key or one it rotated to. */
  readonly previous?: BundleReader | ReadonlyMap<string, Uint8Array>;
  /**
   * Checks events.jsonl's lines elsewhere (other threads, for a big bundle in a directory): started once the
   * checkpoint and proof are read, so it runs while the digests are taken. Null: the lines are checked here.
   */
  readonly eventLines?: (context: EventLinesContext) => EventLinesElsewhere | null;
}

/** Lines checked elsewhere: their facts in file order (EventLineFacts), read when the verifier needs them. */
export interface EventLinesElsewhere {
  batches(): Iterable<LineFactsBatch>;
  /** After the last batch: whether the file's last line has no newline. */
  truncated(): boolean;
  /** Stops the work (the verdict came before the lines were needed, or the lines are read). */
  close(): void;
}

export interface Verdict {
  readonly ok: boolean;
  /** Each problem in plain words (empty when ok). */
  readonly failures: string[];
  readonly records: number;
  readonly treeSize: number | null;
  readonly origin: string | null;
  /** The checkpoint's root hash, hex (null when unreadable). */
  readonly rootHash: string | null;
  /** The seq of the log's first record (1, or the record a restore began a new log with). */
  readonly firstSeq: number;
  /** A log begun by a restore: its first record, proven to be leaf 0 of the signed tree. */
  readonly logStart: ExportedRecord | null;
  /** SHA-256 of the signer's raw public key, hex: the fingerprint `rounds-server audit key` prints (null if unreadable). */
  readonly signerFingerprint: string | null;
  /** The signer is the key given with --key (without --key the result holds only if the fingerprint is the organisation's). */
  readonly keyMatched: boolean;
  /** With a previous bundle signed by another key: the signed rotations that lead from its key to this one's, oldest first. */
  readonly keyChanges: readonly KeyRotation[];
  /** What the result rests on besides the checks (printed after the verdict). */
  readonly notes: string[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** proof.json of version 1 or 2, or null when it is neither. */
function readProof(text: string | null): ProofFile | null {
  try {
    const proof = JSON.parse(text ?? '') as ProofFile;
    const v1 = proof.version === 1 && Array.isArray(proof.indices) && Array.isArray(proof.inclusion);
    const v2 = proof.version === 2 && Number.isSafeInteger(proof.firstSeq) && (proof.firstSeq ?? 0) >= 1;
    const shaped = Array.isArray(proof.consistency) && typeof proof.range?.from === 'number' && typeof proof.range.to === 'number';
    return (v1 || v2) && shaped ? proof : null;
  } catch {
    return null;
  }
}

/** A file's text, or '' when it is missing or not UTF-8 (the checks that read it for real say so). */
function silentText(bytes: Uint8Array | null): string {
  try {
    return bytes ? decoder.decode(bytes) : '';
  } catch {
    return '';
  }
}

/** The root of the first `size` leaves of a bundle's tree of `treeSize`, from its tiles (checked with the bundle); null without them (proof version 1). */
function previousRootAt(crypto: AuditCrypto, bundle: BundleReader, treeSize: number, size: number): Uint8Array | null {
  try {
    return new TileTree(crypto.sha256, treeSize, (ref) => bundle.read(tilePath(ref))).root(size);
  } catch {
    return null;
  }
}

/** A bundle's exported record of `seq` (events.jsonl read a chunk at a time), or null when it has none. */
function recordIn(bundle: BundleReader, seq: number): ExportedRecord | null {
  for (const line of lines(bundle.chunks('events.jsonl'), { truncated: false })) {
    try {
      const record = JSON.parse(decoder.decode(line)) as ExportedRecord;
      if (record.seq === seq) return record;
    } catch {
      // an unreadable line: the previous bundle's own verdict names it
    }
  }
  return null;
}

/** Checks a bundle completely and reports every problem found, never throwing on bad input. */
export function verifyBundle(crypto: AuditCrypto, bundle: BundleReader | ReadonlyMap<string, Uint8Array>, options: VerifyOptions = {}): Verdict {
  const started: { lines: EventLinesElsewhere | null } = { lines: null };
  try {
    return checkBundle(crypto, bundle, options, started);
  } finally {
    started.lines?.close();
  }
}

function checkBundle(crypto: AuditCrypto, bundle: BundleReader | ReadonlyMap<string, Uint8Array>, options: VerifyOptions, started: { lines: EventLinesElsewhere | null }): Verdict {
  const files = bundle instanceof Map ? mapReader(bundle) : (bundle as BundleReader);
  const failures: string[] = [];
  const notes: string[] = [];
  let signerFingerprint: string | null = null;
  let keyMatched = false;
  let keyChanges: KeyRotation[] = [];
  let logStart: ExportedRecord | null = null;
  let firstSeq = 1;
  const text = (name: string): string | null => {
    const bytes = files.read(name);
    if (!bytes) return null;
    try {
      return decoder.decode(bytes);
    } catch {
      failures.push(`${name} is not UTF-8 text`);
      return null;
    }
  };
  const done = (records = 0, checkpoint: Checkpoint | null = null): Verdict => ({
    ok: failures.length === 0, failures, records, treeSize: checkpoint?.size ?? null, origin: checkpoint?.origin ?? null, rootHash: checkpoint ? hex(checkpoint.root) : null,
    firstSeq, logStart, signerFingerprint, keyMatched, keyChanges, notes,
  });

  // 1. The signature over SHA256SUMS, by the expected key.
  const pem = text('signer.pub.pem');
  const sums = files.read('SHA256SUMS');
  const sig = files.read('SHA256SUMS.sig');
  const proof = readProof(text('proof.json'));
  const required = [...BUNDLE_FILES, ...(proof?.version === 2 ? V2_FILES : [])];
  for (const name of ['SHA256SUMS', 'SHA256SUMS.sig', ...required]) if (!files.has(name)) failures.push(`${name} is missing`);
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

  // The lines' own checks start elsewhere now, if they can, and run while the digests are taken.
  const early = proof?.version === 2 && options.eventLines ? parseCheckpoint(silentText(files.read('checkpoint'))) : null;
  if (early?.ok && proof) {
    const { checkpoint: c } = early;
    started.lines = options.eventLines?.({ firstSeq: proof.firstSeq ?? 1, treeSize: c.size, complete: proof.complete, range: proof.range, relay: c.origin.startsWith(RELAY_ORIGIN_PREFIX) }) ?? null;
  }
  const parallel = started.lines;

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
  for (const name of [...required, ...OPTIONAL_FILES.filter((n) => files.has(n))]) if (!listed.has(name)) failures.push(`${name} is not listed in SHA256SUMS`);
  // Nothing may be added to a bundle: a file SHA256SUMS does not list (a "corrected" report, a note) fails it.
  const unlisted = files.names().filter((name) => !listed.has(name) && name !== 'SHA256SUMS' && name !== 'SHA256SUMS.sig' && !(required as readonly string[]).includes(name) && !(OPTIONAL_FILES as readonly string[]).includes(name));
  for (const name of unlisted.slice(0, 10)) failures.push(`${name} is in the bundle but not listed in SHA256SUMS (added after export)`);
  if (unlisted.length > 10) failures.push(`... and ${unlisted.length - 10} more files not listed in SHA256SUMS`);
  for (const [name, digest] of listed) {
    if (!files.has(name)) {
      if (!(required as readonly string[]).includes(name)) failures.push(`${name} is listed in SHA256SUMS but missing (removed after export)`);
      continue;
    }
    const stream = crypto.sha256Stream();
    for (const chunk of files.chunks(name)) stream.update(chunk);
    if (hex(stream.digest()) !== digest) failures.push(`${name} does not match its digest in SHA256SUMS (changed after export)`);
  }

  // 3. The checkpoint: well formed, signed by the same key.
  const note = parseCheckpoint(text('checkpoint') ?? '');
  if (!note.ok) return (failures.push(`checkpoint: ${note.reason}`), done());
  const { checkpoint } = note;
  const keyId = noteKeyId(crypto.sha256, checkpoint.origin, signerKey);
  const signed = note.signatures.some((s) => s.keyName === checkpoint.origin && equal(s.keyId, keyId) && crypto.verify(pem, encoder.encode(note.body), s.signature));
  if (!signed) failures.push('checkpoint is not signed by signer.pub.pem for its origin');

  // 4. The records: parse, order, no gap, their hash chain, and inclusion in the checkpoint's tree.
  if (!proof) return (failures.push('proof.json is not a valid proof file'), done(0, checkpoint));
  firstSeq = proof.version === 2 ? proof.firstSeq ?? 1 : 1;
  if (proof.treeSize !== checkpoint.size) failures.push(`proof.json is for a tree of ${proof.treeSize} records, the checkpoint for ${checkpoint.size}`);
  // Exported with --allow-broken: the relay found its chain broken, possibly outside the exported records.
  if (proof.chainBroken) failures.push(`the log's hash chain was broken at record ${String(proof.chainBroken.seq)} when this bundle was exported (${String(proof.chainBroken.reason)}); it was exported with --allow-broken, as evidence only`);
  else if (files.has(CHAIN_BROKEN_FILE)) failures.push(`${CHAIN_BROKEN_FILE}: ${(text(CHAIN_BROKEN_FILE) ?? '').trim().slice(0, 300)}`);

  const relay = checkpoint.origin.startsWith(RELAY_ORIGIN_PREFIX);
  let tree: TileTree | null = null;
  if (proof.version === 2) {
    const source = (ref: TileRef) => files.read(tilePath(ref));
    const tileProblems = checkTiles(crypto.sha256, checkpoint.size, checkpoint.root, source);
    failures.push(...tileProblems.map((p) => `the tree's tiles: ${p}`));
    if (tileProblems.length === 0) tree = new TileTree(crypto.sha256, checkpoint.size, source);
  }
  const context: EventLinesContext = { firstSeq, treeSize: checkpoint.size, complete: proof.complete, range: proof.range, relay };
  const fold = new EventLinesFold(context, failures, tree !== null);
  const v1 = { leaves: [] as Uint8Array[], seqs: [] as number[] };
  let truncated = false;
  if (parallel) {
    for (const batch of parallel.batches()) if (!fold.add(batch)) break;
    truncated = parallel.truncated();
  } else {
    const read = { truncated: false };
    const leafAt = tree ? (index: number) => (tree as TileTree).leaf(index) : null;
    const facts = new EventLineFacts(crypto, context, proof.version === 1 ? null : leafAt, proof.version === 1 ? v1 : null);
    for (const bytes of lines(files.chunks('events.jsonl'), read)) {
      facts.add(bytes);
      if (facts.pending >= 4096 && !fold.add(facts.take())) break;
    }
    if (fold.add(facts.take())) truncated = read.truncated;
  }
  fold.finish(truncated);
  const count = fold.count;
  const v1Leaves = v1.leaves.slice(0, fold.records);
  const v1Seqs = v1.seqs.slice(0, fold.records);
  if (proof.version === 1) {
    const indices = proof.indices ?? [];
    if (v1Leaves.length !== indices.length) failures.push(`events.jsonl has ${v1Leaves.length} records, the proof covers ${indices.length}`);
    else if (v1Seqs.some((s, i) => s - 1 !== indices[i])) failures.push('the records are not the ones the proof covers (changed, removed, added or reordered)');
    else {
      const hashes = (proof.inclusion ?? []).map((h) => fromBase64(h));
      const root = hashes.every((h): h is Uint8Array => h !== null) ? rootFromMultiProof(crypto.sha256, checkpoint.size, indices, v1Leaves, hashes) : null;
      if (!root || !equal(root, checkpoint.root)) failures.push('the records are not included in the checkpoint\'s tree (a record was altered, or the checkpoint replaced)');
    }
  }

  // 5. A log begun by a restore: its first record, leaf 0 of the tree, says which log it continues.
  if (proof.version === 2 && (firstSeq > 1 || files.has(LOG_START_FILE))) {
    const start = files.read(LOG_START_FILE);
    const line = start ? start.subarray(0, start.length - (start[start.length - 1] === 10 ? 1 : 0)) : null;
    if (!line) failures.push(`${LOG_START_FILE} is missing: this log begins at record ${firstSeq}, and the bundle must show its first record`);
    else if (tree && !equal(tree.leaf(0), leafHash(crypto.sha256, line))) failures.push(`${LOG_START_FILE} is not the first record of the checkpoint's tree`);
    else {
      try {
        logStart = JSON.parse(decoder.decode(line)) as ExportedRecord;
        if (logStart.seq !== firstSeq) failures.push(`${LOG_START_FILE} holds record ${String(logStart.seq)}, not record ${firstSeq}`);
      } catch {
        failures.push(`${LOG_START_FILE} is not a valid record`);
      }
    }
  }

  // 6. The log's key rotations: each statement signed by the key it retires, for this log.
  const rotations: KeyRotation[] = [];
  if (files.has(KEY_ROTATIONS_FILE)) {
    const statements = parseKeyRotationsFile(text(KEY_ROTATIONS_FILE) ?? '');
    if (!statements) failures.push(`${KEY_ROTATIONS_FILE} is not a list of key rotation statements`);
    statements?.forEach((s, i) => {
      const read = readKeyRotation(crypto, s, rotationOrigin(s, checkpoint.origin));
      if (read.ok) rotations.push(read.rotation);
      else failures.push(`${KEY_ROTATIONS_FILE}: rotation ${i + 1} ${read.reason}`);
    });
  }

  // 7. An earlier bundle: itself intact, signed by this key or one that rotated to it, and this checkpoint extends its checkpoint.
  if (options.previous) {
    const earlier = verifyBundle(crypto, options.previous);
    failures.push(...earlier.failures.map((f) => `the previous bundle: ${f}`));
    const previous = options.previous instanceof Map ? mapReader(options.previous) : (options.previous as BundleReader);
    const old = parseCheckpoint(new TextDecoder().decode(previous.read('checkpoint') ?? new Uint8Array()));
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
    else if (old.checkpoint.origin !== checkpoint.origin) {
      // Another log: one a restore began after the previous bundle's follows it by its first record (restoreLink.ts).
      const link = followRestore(crypto, {
        checkpoint: old.checkpoint, note: new TextDecoder().decode(previous.read('checkpoint') ?? new Uint8Array()),
        publicKeyPem: new TextDecoder().decode(previous.read('signer.pub.pem') ?? new Uint8Array()), firstSeq: earlier.firstSeq,
        recordAt: (seq) => recordIn(previous, seq),
        rootAt: (size) => previousRootAt(crypto, previous, old.checkpoint.size, size),
      }, { origin: checkpoint.origin, firstSeq, logStart });
      failures.push(...link.failures);
      notes.push(...link.notes);
    }
    else if (old.checkpoint.size > checkpoint.size) failures.push('the previous bundle covers more records than this one: the log was cut');
    // An empty log (the previous export was made before anything was recorded) is a prefix of every log.
    else if (old.checkpoint.size === 0 && checkpoint.size > 0) notes.push('the previous bundle is of the log while it was still empty: every log extends it');
    else {
      const entry = old.checkpoint.size === checkpoint.size ? { fromSize: old.checkpoint.size, proof: [] } : proof.consistency.find((c) => c.fromSize === old.checkpoint.size);
      const path = entry?.proof.map((h) => fromBase64(h));
      if (!entry || !path || path.some((h) => h === null)) failures.push(`no consistency proof from the previous bundle's ${old.checkpoint.size} records`);
      else if (!verifyConsistency(crypto.sha256, old.checkpoint.size, checkpoint.size, old.checkpoint.root, checkpoint.root, path as Uint8Array[])) {
        failures.push(`this log is not an extension of the previous bundle's: records among the first ${old.checkpoint.size} were rewritten between the exports`);
      }
    }
  }
  return done(count, checkpoint);
}
