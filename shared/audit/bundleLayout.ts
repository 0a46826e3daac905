/**
 * What an audit bundle holds. The relay, the workstation and `rounds-audit verify` share this one
 * definition; README.txt in every bundle says the same for the people who open it.
 *
 *   events.jsonl        one canonical JSON record per line: the exact bytes of each Merkle leaf
 *   tile/<L>/<N>[.p/W]  the log's Merkle tree (RFC 9162) as C2SP tlog-tiles, for the checkpoint's size
 *   checkpoint          signed tree head (C2SP tlog-checkpoint, a signed note) over the whole log
 *   proof.json          tree size, the log's first seq, the range, consistency proofs from earlier exports
 *   log-start.jsonl     (a log a restore began) its first record, leaf 0, naming the log it continues
 *   events.csv          the same records with names, for spreadsheets
 *   people.json         who the ids in the records are, resolved at export
 *   report.html         the auditor's report (no scripts, no network)
 *   README.txt          this layout and how to check it
 *   signer.pub.pem      the Ed25519 public key
 *   key-rotations.json  (relay bundles) the log's signed key rotations, see keyRotation.ts
 *   CHAIN-BROKEN.txt    only in a bundle exported with --allow-broken: says where the hash chain broke
 *   SHA256SUMS          sha256sum-format digests of all of the above
 *   SHA256SUMS.sig      Ed25519 signature over SHA256SUMS
 *
 * Bundles of proof version 1 (before the tiles) carried one combined inclusion proof in proof.json
 * instead; they still verify.
 */
import { KEY_ROTATIONS_FILE } from './keyRotation';
import { equal, type Hash } from './merkle';
import { DIRECTORY_FILE } from './people';

export interface AuditCrypto {
  readonly sha256: Hash;
  /** SHA-256 of a string's UTF-8 bytes, as lower-case hex, where the platform does it in one call (optional). */
  sha256Text?(text: string): string;
  /** Whether SHA-256 of `data` is `expected`, where the platform can tell without making the digest an array (optional). */
  sha256Equals?(data: Uint8Array, expected: Uint8Array): boolean;
  /** SHA-256 over data given in parts (a file as it is written or read). */
  sha256Stream(): { update(data: Uint8Array): void; digest(): Uint8Array };
  /** Ed25519 verification with a PEM (SPKI) public key; false for a bad key or signature. */
  verify(publicKeyPem: string, data: Uint8Array, signature: Uint8Array): boolean;
  /** The raw 32-byte Ed25519 key inside a PEM (SPKI) public key, or null. */
  rawPublicKey(publicKeyPem: string): Uint8Array | null;
}

export interface AuditSigner {
  readonly publicKeyPem: string;
  sign(data: Uint8Array): Uint8Array;
}

/** A log record as exported: `seq` numbers the log from its first record without gaps (leaf index = seq - firstSeq). */
export interface ExportedRecord {
  readonly seq: number;
  readonly at: number;
  readonly type: string;
  readonly [field: string]: unknown;
}

export interface ChainBreak {
  readonly seq: number;
  readonly reason: string;
}

/** Files every bundle has (of proof version 1: the first six). */
export const BUNDLE_FILES = ['events.jsonl', 'events.csv', 'checkpoint', 'proof.json', 'report.html', 'signer.pub.pem'] as const;
export const README_FILE = 'README.txt';
export const LOG_START_FILE = 'log-start.jsonl';
/** Files a version 2 bundle has besides BUNDLE_FILES (and its tiles). */
export const V2_FILES = [DIRECTORY_FILE, README_FILE] as const;
/** Checkpoint origins of relay logs: their records carry the hash chain (recordChain.ts), which verify requires. */
export const RELAY_ORIGIN_PREFIX = 'rounds.relay/';
/** Written by an export of a log whose hash chain is broken (`--allow-broken`): one more place that says so. */
export const CHAIN_BROKEN_FILE = 'CHAIN-BROKEN.txt';
/** Files a bundle may hold; when present, SHA256SUMS must list them. */
export const OPTIONAL_FILES = [KEY_ROTATIONS_FILE, CHAIN_BROKEN_FILE, LOG_START_FILE] as const;
export const MAX_LINE_BYTES = 64 * 1024;
export const PROOF_VERSION = 2;

export interface ProofFile {
  version: 1 | 2;
  treeSize: number;
  /** Version 2: the seq of leaf 0. */
  firstSeq?: number;
  range: { from: number; to: number; user: string | null };
  complete: boolean;
  /** Version 1: the leaf indices and one combined proof of them. */
  indices?: number[];
  inclusion?: string[];
  /** Version 2: where the tiles are. */
  tiles?: string;
  consistency: { fromSize: number; proof: string[] }[];
  /** Only in a bundle of a broken log (--allow-broken). */
  chainBroken?: { seq: number; reason: string; warning: string };
}

/** The one sentence every file of a broken log's bundle carries. */
export function chainBrokenWarning(broken: ChainBreak): string {
  return `WARNING: this log's hash chain is broken at record ${broken.seq} (${broken.reason}). It was exported anyway (--allow-broken) as evidence: rounds-audit verify fails it, and no record in it can be trusted until the break is explained.`;
}

const ORDER: readonly string[] = [...BUNDLE_FILES, ...V2_FILES, ...OPTIONAL_FILES];

/** The files SHA256SUMS lists, in its order: the named ones first, then the tiles in the order written. */
export function listedFiles(names: readonly string[]): string[] {
  const named = ORDER.filter((n) => names.includes(n));
  return [...named, ...names.filter((n) => !ORDER.includes(n) && n !== 'SHA256SUMS' && n !== 'SHA256SUMS.sig')];
}

/** README.txt: the bundle's layout, what it proves and how to check it without Rounds's own tool. */
export function bundleReadme(t: { origin: string; size: number; root: string; firstSeq: number; signer: string; records: number }): string {
  return `Rounds audit bundle
===================

Log:            ${t.origin}
Tree size:      ${t.size} records (seq ${t.firstSeq} to ${t.firstSeq + t.size - 1})
Root hash:      ${t.root} (SHA-256, hex)
Signing key:    ${t.signer} (SHA-256 of the raw Ed25519 public key)
This bundle:    ${t.records} records

Check it with Rounds's verifier (exit status 0 only when everything holds):
  rounds-audit verify <this bundle> --key <your organisation's audit public key>
  rounds-audit verify <this bundle> --previous <an earlier bundle of this log>

Or with standard tools:
  sha256sum -c SHA256SUMS
  openssl pkeyutl -verify -pubin -inkey signer.pub.pem -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig

Files
-----
events.jsonl      One record per line, canonical JSON (keys sorted, no spaces). Each line, without
                  its newline, is a leaf of the log's Merkle tree (RFC 9162 section 2.1): leaf hash =
                  SHA-256(0x00 || line). Record seq S is leaf index S - ${t.firstSeq}.
tile/             The whole tree as C2SP tlog-tiles (https://c2sp.org/tlog-tiles), tile height 8:
                  tile/<L>/<N> holds the hashes of 256 nodes at height 8*L starting at node 256*N
                  (N in 3-digit path elements, all but the last prefixed "x"); the last tile of a
                  level may be partial, tile/<L>/<N>.p/<W> with W hashes. Every record's RFC 9162
                  inclusion proof (section 2.1.3) follows from them, e.g. with Go's
                  golang.org/x/mod/sumdb/tlog: TileHashReader, ProveRecord, CheckRecord.
checkpoint        The signed tree head: a C2SP tlog-checkpoint (origin, tree size, base64 root hash)
                  as a C2SP signed note, Ed25519 (golang.org/x/mod/sumdb/note opens it).
proof.json        Tree size, first seq, the range exported, and RFC 9162 consistency proofs from the
                  tree sizes of earlier exports of this log.
log-start.jsonl   Only in a log begun by a restore: its first record (leaf 0), which names the
                  backup restored and the last checkpoint of the log before.
events.csv        The same records for spreadsheets, with names resolved at export.
people.json       Who the ids in the records are (username, display name, role, workstations).
report.html       The report for people: what was verified, flagged events, a timeline, per person.
signer.pub.pem    The Ed25519 public key that signed the checkpoint and SHA256SUMS.
key-rotations.json  The log's audit key rotations, each signed by the key it retired.
SHA256SUMS(.sig)  Digests of every file above (tiles included), and their signature.
`;
}

/** Whether SHA-256 of `data` is `expected` (a leaf checked against the tree's): one call per exported or verified line. */
export function digestIs(crypto: Pick<AuditCrypto, 'sha256' | 'sha256Equals'>, data: Uint8Array, expected: Uint8Array): boolean {
  return crypto.sha256Equals ? crypto.sha256Equals(data, expected) : equal(crypto.sha256(data), expected);
}
