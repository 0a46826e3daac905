/**
 * Ties a workstation's audit bundle to the relay's log: `rounds-audit verify WORKSTATION --relay-bundle RELAY`.
 *
 * A workstation signs its bundles with its own Ed25519 audit key (main/core/audit/LocalAudit.ts), made when
 * it enrolled; it sent the public half to the relay then, and the relay wrote it into its own signed log:
 * the `device.enrolled` record whose subject is the workstation (`<userId>.<deviceId>`, the bundle's origin
 * `rounds.client/<userId>.<deviceId>`) holds it as `details.auditKey`, the raw 32-byte Ed25519 public key
 * (RFC 8032) in standard base64 with padding (RFC 4648 section 4: 44 characters; the same bytes as a JWK's
 * `x`, which is base64url). The workstation bundle's `signer.pub.pem` is that key as SPKI PEM. They are
 * compared as raw keys, so no one has to build a PEM by hand.
 *
 * Pure (no Node): the caller passes SHA-256 and the PEM reader (AuditCrypto), and verifies both bundles with
 * verifyBundle first; this only reads what they say.
 */
import type { AuditCrypto } from './bundle';
import { fromBase64 } from './checkpoint';
import { keyFingerprint } from './keyRotation';
import { equal } from './merkle';
import { DIRECTORY_FILE, type AuditPerson, type AuditWorkstation } from './people';
import type { ChainedRecord } from './recordChain';

export const WORKSTATION_ORIGIN_PREFIX = 'rounds.client/';

/** How the link reads a bundle's files (bundleVerify.ts's BundleReader is one): small files whole, events.jsonl a chunk at a time. */
export interface LinkedBundle {
  read(name: string): Uint8Array | null;
  chunks(name: string): Iterable<Uint8Array>;
}

export interface WorkstationLink {
  /** The relay's log records this workstation's enrollment with the key that signed its bundle. */
  readonly ok: boolean;
  /** Each reason it does not, in plain words (empty when ok). */
  readonly failures: string[];
  /** The match, and what else the relay's log says of the workstation (a later revocation is a note, not a failure). */
  readonly notes: string[];
  /** `<userId>.<deviceId>`, from the workstation bundle's origin (null if it is not a workstation's). */
  readonly device: string | null;
  /** The relay record the key was found in. */
  readonly enrollment: { readonly seq: number; readonly at: number } | null;
}

type LogRecord = Pick<ChainedRecord, 'seq' | 'at' | 'type' | 'actor' | 'subject' | 'details'>;

/** The records the link needs (read tolerantly: the bundle was verified before, or its failures are reported there). */
const LINK_TYPES = ['device.enrolled', 'device.revoked', 'account.deactivated', 'emergency.used'];

export function linkWorkstationToRelay(crypto: Pick<AuditCrypto, 'sha256' | 'rawPublicKey'>, workstation: LinkedBundle, relay: LinkedBundle): WorkstationLink {
  const failures: string[] = [];
  const notes: string[] = [];
  const done = (device: string | null, enrollment: WorkstationLink['enrollment'] = null): WorkstationLink => ({ ok: failures.length === 0, failures, notes, device, enrollment });

  const origin = firstLine(workstation.read('checkpoint'));
  if (!origin?.startsWith(WORKSTATION_ORIGIN_PREFIX)) {
    failures.push(`the bundle given is not a workstation's (its log is ${origin ?? 'unreadable'}, not ${WORKSTATION_ORIGIN_PREFIX}<user>.<device>): --relay-bundle checks a workstation bundle against the relay's`);
    return done(null);
  }
  const device = origin.slice(WORKSTATION_ORIGIN_PREFIX.length);
  const signerPem = text(workstation.read('signer.pub.pem'));
  const signer = signerPem === null ? null : crypto.rawPublicKey(signerPem);
  if (!signer) {
    failures.push('the workstation bundle\'s signer.pub.pem is not an Ed25519 public key');
    return done(device);
  }
  const relayOrigin = firstLine(relay.read('checkpoint'));
  if (!relayOrigin?.startsWith('rounds.relay/')) {
    failures.push(`the --relay-bundle given is not a relay's bundle (its log is ${relayOrigin ?? 'unreadable'})`);
    return done(device);
  }

  const names = new Names([relay, workstation]);
  const name = names.workstation(device);
  const records = relayRecords(relay.chunks('events.jsonl'));
  const user = device.slice(0, device.lastIndexOf('.'));
  // A workstation signed in with an emergency code records its key in `emergency.used` (when its app sent one).
  const enrollments = records.filter((r) => (r.type === 'device.enrolled' || (r.type === 'emergency.used' && typeof r.details.auditKey === 'string')) && r.subject === device);
  const fingerprint = (raw: Uint8Array) => keyFingerprint(crypto.sha256, raw);
  const enrolled = enrollments.find((r) => sameKey(r.details.auditKey, signer));
  if (!enrolled) {
    const last = enrollments.at(-1);
    if (!last) {
      const emergency = records.find((r) => r.type === 'emergency.used' && r.subject === device);
      failures.push(emergency
        ? `the relay's log records ${name} as signed in with an emergency code on ${when(emergency.at)} (record ${emergency.seq}) without an audit key: its bundle cannot be tied to the relay's log`
        : `the relay bundle has no device.enrolled record for ${name}${rangeNote(relay, names)}: export the relay's log for the workstation's user (rounds-server audit export --user) over a range that includes the day it was enrolled`);
    } else if (typeof last.details.auditKey !== 'string') {
      failures.push(`the relay's log records no audit key for ${name} (enrolled on ${when(last.at)}, record ${last.seq}, by a version of Rounds from before audit keys): its bundle cannot be tied to the relay's log`);
    } else {
      const recorded = fromBase64(last.details.auditKey);
      failures.push(`the workstation bundle is signed by audit key ${fingerprint(signer)}, but the relay recorded ${recorded?.length === 32 ? `key ${fingerprint(recorded)}` : 'a different key'} when ${name} enrolled on ${when(last.at)} (record ${last.seq}): the bundle is not that workstation's, or one of the two bundles was altered`);
    }
    return done(device);
  }
  notes.push(`the workstation's audit key matches its ${enrolled.type === 'emergency.used' ? 'emergency sign-in' : 'enrollment'} on ${when(enrolled.at)} recorded in the relay's log (record ${enrolled.seq}): the bundle was signed by ${name}.`);
  // Whom the workstation bundle names (its report and CSV rest on it) must be whom the relay knows for that device.
  const claimed = new Names([workstation]);
  const known = new Names([relay]);
  const differs = (a: string | null, b: string | null) => a !== null && b !== null && a !== b;
  if (differs(claimed.username(user), known.username(user)) || differs(claimed.displayName(user), known.displayName(user))) {
    failures.push(`the workstation bundle says its user is ${claimed.user(user)}, but the relay knows ${device}'s account as ${known.user(user)}: its report and events.csv name the wrong person`);
  }
  const claimedName = claimed.workstationName(device);
  const enrolledName = typeof enrolled.details.name === 'string' ? enrolled.details.name : null;
  if (claimedName !== null && enrolledName !== null && enrolledName !== '' && claimedName !== enrolledName) {
    failures.push(`the workstation bundle calls the workstation "${claimedName}", but it enrolled as "${enrolledName}" (relay record ${enrolled.seq})`);
  }
  const ended = records.find((r) => r.seq > enrolled.seq && ((r.type === 'device.revoked' && r.subject === device) || (r.type === 'account.deactivated' && r.subject === user)));
  if (ended) {
    const what = ended.type === 'device.revoked' ? 'revoked the workstation' : 'deactivated its account (which revokes every workstation)';
    notes.push(`note: the relay ${what} on ${when(ended.at)} (record ${ended.seq}, by ${ended.actor}); the workstation cannot reach the relay since, and records it dated after then deserve a closer look.`);
  }
  return done(device, { seq: enrolled.seq, at: enrolled.at });
}

function sameKey(recorded: unknown, signer: Uint8Array): boolean {
  if (typeof recorded !== 'string') return false;
  const raw = fromBase64(recorded);
  return raw !== null && raw.length === 32 && equal(raw, signer);
}

const decoder = new TextDecoder('utf-8', { fatal: false });
const text = (bytes: Uint8Array | null): string | null => (bytes ? decoder.decode(bytes) : null);

function firstLine(bytes: Uint8Array | null): string | null {
  const content = text(bytes);
  if (content === null) return null;
  const end = content.indexOf('\n');
  return end > 0 ? content.slice(0, end) : null;
}

/** The relay bundle's records of the kinds the link reads, read a chunk at a time (a year's log is large); other lines are skipped. */
function relayRecords(chunks: Iterable<Uint8Array>): LogRecord[] {
  const out: LogRecord[] = [];
  // Split on the newline byte (never part of a longer UTF-8 sequence), so a chunk may end mid-character.
  let rest = new Uint8Array();
  const take = (line: Uint8Array) => {
    const record = linkRecord(decoder.decode(line));
    if (record) out.push(record);
  };
  for (const chunk of chunks) {
    let bytes = chunk;
    if (rest.length > 0) {
      bytes = new Uint8Array(rest.length + chunk.length);
      bytes.set(rest);
      bytes.set(chunk, rest.length);
    }
    let start = 0;
    for (let end = bytes.indexOf(NEWLINE); end >= 0; end = bytes.indexOf(NEWLINE, start)) {
      take(bytes.subarray(start, end));
      start = end + 1;
    }
    rest = bytes.slice(start);
  }
  take(rest);
  return out;
}

const NEWLINE = 0x0a;

function linkRecord(line: string): LogRecord | null {
  if (!LINK_TYPES.some((t) => line.includes(`"${t}"`))) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return null;
  }
  const r = parsed as Partial<LogRecord> | null;
  if (!r || typeof r.seq !== 'number' || typeof r.at !== 'number' || typeof r.type !== 'string' || !LINK_TYPES.includes(r.type)) return null;
  return { seq: r.seq, at: r.at, type: r.type, actor: String(r.actor ?? ''), subject: String(r.subject ?? ''), details: r.details !== null && typeof r.details === 'object' ? r.details : {} };
}

/** What the relay bundle covers, when its proof says so: " (it covers <from> to <to>, user <id>)". */
function rangeNote(relay: LinkedBundle, names: Names): string {
  let range: { from?: unknown; to?: unknown; user?: unknown } | undefined;
  try {
    range = (JSON.parse(text(relay.read('proof.json')) ?? 'null') as { range?: typeof range } | null)?.range;
  } catch {
    return '';
  }
  if (!range || typeof range.from !== 'number' || typeof range.to !== 'number') return '';
  return ` (it covers ${when(range.from)} to ${when(range.to)}${typeof range.user === 'string' ? `, only the records of ${names.user(range.user)}` : ''})`;
}

/** Names from the bundles' directories (people.json), the relay's first; ids where they have none. */
class Names {
  readonly #people = new Map<string, { username: string; displayName: string }>();
  readonly #workstations = new Map<string, string>();

  constructor(bundles: readonly LinkedBundle[]) {
    for (const bundle of bundles) {
      const { people, workstations } = directoryOf(bundle);
      for (const p of people) {
        if (typeof p.userId === 'string' && typeof p.username === 'string' && !this.#people.has(p.userId)) this.#people.set(p.userId, { username: p.username, displayName: typeof p.displayName === 'string' ? p.displayName : '' });
      }
      for (const w of workstations) {
        const key = `${String(w.userId)}.${String(w.deviceId)}`;
        if (typeof w.name === 'string' && w.name !== '' && !this.#workstations.has(key)) this.#workstations.set(key, w.name);
      }
    }
  }

  username(userId: string): string | null {
    return this.#people.get(userId)?.username ?? null;
  }

  displayName(userId: string): string | null {
    return this.#people.get(userId)?.displayName ?? null;
  }

  workstationName(device: string): string | null {
    return this.#workstations.get(device) ?? null;
  }

  /** "Dr. Anna Smith (asmith)", or "user <id>". */
  user(userId: string): string {
    const p = this.#people.get(userId);
    return p ? (p.displayName ? `${p.displayName} (${p.username})` : p.username) : `user ${userId}`;
  }

  /** `workstation "Ward 4 nurses' station" of Dr. Anna Smith (asmith), <userId>.<deviceId>`, or `workstation <userId>.<deviceId>`. */
  workstation(device: string): string {
    const userId = device.slice(0, device.lastIndexOf('.'));
    const named = this.#workstations.get(device);
    const parts = [named ? `"${named}"` : '', this.#people.has(userId) ? `of ${this.user(userId)},` : ''].filter((p) => p !== '');
    return parts.length === 0 ? `workstation ${device}` : `workstation ${parts.join(' ')}${parts.at(-1)?.endsWith(',') ? '' : ','} ${device}`;
  }
}

/** A bundle's people.json, read tolerantly (fields are checked where used). */
function directoryOf(bundle: LinkedBundle): { people: Partial<AuditPerson>[]; workstations: Partial<AuditWorkstation>[] } {
  try {
    const parsed = JSON.parse(text(bundle.read(DIRECTORY_FILE)) ?? 'null') as { people?: unknown; workstations?: unknown } | null;
    return {
      people: Array.isArray(parsed?.people) ? (parsed.people as Partial<AuditPerson>[]) : [],
      workstations: Array.isArray(parsed?.workstations) ? (parsed.workstations as Partial<AuditWorkstation>[]) : [],
    };
  } catch {
    return { people: [], workstations: [] };
  }
}

/** A time as an auditor reads it in every bundle: UTC, to the second. */
function when(at: number): string {
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? String(at) : `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}
