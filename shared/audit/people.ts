/**
 * Who the ids in audit records are. Records name users and workstations by id (`<userId>.<deviceId>`,
 * a user id, `anonymous@<address>`, `admin:<os account>`); the exporter resolves them once, at export, from
 * the relay's accounts (or the workstation's own profile), and ships the result in the bundle as
 * `people.json` (listed in SHA256SUMS, so it is signed with the rest). The records themselves are never
 * changed: they are the leaves of the signed tree.
 */

export interface AuditPerson {
  readonly userId: string;
  readonly username: string;
  readonly displayName: string;
  readonly role: string;
}

export interface AuditWorkstation {
  readonly userId: string;
  readonly deviceId: number;
  /** The name the workstation was enrolled with ("Ward 4 nurses' station"). */
  readonly name: string;
}

export interface AuditDirectory {
  readonly people: readonly AuditPerson[];
  readonly workstations: readonly AuditWorkstation[];
  /** The relay's IANA time zone (e.g. `Europe/London`), for the local-time columns; `UTC` when unknown. */
  readonly timeZone: string;
}

export const DIRECTORY_FILE = 'people.json';

export const EMPTY_DIRECTORY: AuditDirectory = { people: [], workstations: [], timeZone: 'UTC' };

/** What kind of party an actor or subject string names. */
export type AuditPartyKind =
  /** `<userId>.<deviceId>`: a user at one of their workstations. */
  | 'workstation'
  /** A bare user id. */
  | 'user'
  /** `admin:<os account>` or the legacy `admin`: a command run on the relay's machine. */
  | 'admin'
  /** `api:<userId>.<deviceId>`: a relay account acting through the relay's API (e.g. a compliance officer's export from the app). */
  | 'api'
  /** `system`: the relay itself (a lock after failures, expiry). */
  | 'system'
  /** `anonymous@<address>` or `anonymous`: a caller not (yet) signed in. */
  | 'anonymous'
  /** A UUID that is no user: an envelope (a message to one workstation). */
  | 'envelope'
  /** The empty string: nobody (a record about no one in particular). */
  | 'none'
  /** Anything else, shown as written. */
  | 'other';

/** One actor or subject, resolved to words. */
export interface AuditParty {
  readonly kind: AuditPartyKind;
  /** The string as the record has it. */
  readonly raw: string;
  readonly userId: string | null;
  readonly deviceId: number | null;
  /** From the directory; null for an id it does not know. */
  readonly person: AuditPerson | null;
  /** The username, or null. */
  readonly username: string | null;
  /** The person's display name, or null. */
  readonly displayName: string | null;
  /** The workstation's enrolled name ("Ward 4 nurses' station"), `workstation 3` when unnamed, or null. */
  readonly workstation: string | null;
  /** The network address of an anonymous caller, or null. */
  readonly address: string | null;
  /** The operating-system account that ran an admin command, or null. */
  readonly osAccount: string | null;
  /** Who this is, in a few words: "Dr. Anna Smith (asmith, clinician)", "administrator jdoe". */
  readonly label: string;
  /** The shortest useful name: a display name, username, "admin jdoe", an address. */
  readonly short: string;
}

/** 8-4-4-4-12 hex digits, either case (what /^[0-9a-f]{8}-…-[0-9a-f]{12}$/i says, without a regular expression per record). */
function isUuid(s: string): boolean {
  if (s.length !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = s.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 45) return false;
    } else if (!((c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 102))) return false;
  }
  return true;
}
const DEVICE = /^(.+)\.(\d{1,3})$/;
/** Distinct actors and subjects kept resolved (anonymous addresses can be many: the rest are resolved each time). */
const MAX_CACHED = 50_000;

const NOBODY = { userId: null, deviceId: null, person: null, username: null, displayName: null, workstation: null, address: null, osAccount: null } as const;

/** A short form of an id nobody could name: its first eight characters. */
export const shortId = (id: string): string => (id.length > 12 ? `${id.slice(0, 8)}…` : id);

/** An envelope (a message to one workstation): nobody's, named by the start of its id. */
class EnvelopeParty implements AuditParty {
  constructor(readonly raw: string) {}
  get kind(): 'envelope' { return 'envelope'; }
  get userId(): null { return null; }
  get deviceId(): null { return null; }
  get person(): null { return null; }
  get username(): null { return null; }
  get displayName(): null { return null; }
  get workstation(): null { return null; }
  get address(): null { return null; }
  get osAccount(): null { return null; }
  get label(): string { return `envelope ${this.short}`; }
  get short(): string { return shortId(this.raw); }
}

/**
 * The directory made quick to ask: actor and subject strings to people and workstations, through maps
 * built once (an export resolves a million records with it). Pure; never throws on odd input.
 */
export class AuditNames {
  readonly #people = new Map<string, AuditPerson>();
  readonly #usernames = new Map<string, AuditPerson>();
  readonly #workstations = new Map<string, string>();
  readonly #cache = new Map<string, AuditParty>();

  constructor(readonly directory: AuditDirectory = EMPTY_DIRECTORY) {
    for (const p of directory.people) {
      this.#people.set(p.userId, p);
      this.#usernames.set(p.username, p);
    }
    for (const w of directory.workstations) this.#workstations.set(`${w.userId}.${w.deviceId}`, w.name);
  }

  person(userId: string): AuditPerson | null {
    return this.#people.get(userId) ?? null;
  }

  personByUsername(username: string): AuditPerson | null {
    return this.#usernames.get(username) ?? null;
  }

  /** The workstation's enrolled name, or `workstation N` when the directory does not have it. */
  workstationName(userId: string, deviceId: number): string {
    return this.#workstations.get(`${userId}.${deviceId}`) ?? `workstation ${deviceId}`;
  }

  /**
   * Who or what an actor or subject string names. A bare UUID is a user, unless `envelope` says the record
   * is about envelopes (the subject of `envelope.*` records is the envelope's id).
   */
  party(raw: string, envelope = false): AuditParty {
    if (envelope && isUuid(raw)) {
      // One per envelope, never cached: an object holding just the id (its words are made only if asked for).
      return new EnvelopeParty(raw);
    }
    const cached = this.#cache.get(raw);
    if (cached) return cached;
    const party = this.#resolve(raw);
    if (this.#cache.size < MAX_CACHED) this.#cache.set(raw, party);
    return party;
  }

  /** "Dr. Anna Smith (asmith, clinician)" for a user id; "unknown user 3f2a9c0d…" when the directory lacks it. */
  userLabel(userId: string): string {
    const p = this.#people.get(userId);
    return p ? personLabel(p) : `unknown user ${shortId(userId)}`;
  }

  #resolve(raw: string): AuditParty {
    const base = { ...NOBODY, raw };
    if (raw === '') return { ...base, kind: 'none', label: 'no one in particular', short: '' };
    if (raw === 'system') return { ...base, kind: 'system', label: 'the relay (automatically)', short: 'the relay' };
    if (raw === 'admin') return { ...base, kind: 'admin', label: 'an administrator (command line; account not recorded)', short: 'administrator' };
    if (raw.startsWith('admin:')) {
      const account = raw.slice('admin:'.length);
      return { ...base, kind: 'admin', osAccount: account, label: `administrator ${account} (relay command line)`, short: `admin ${account}` };
    }
    if (raw === 'anonymous') return { ...base, kind: 'anonymous', label: 'a caller not signed in', short: 'not signed in' };
    if (raw.startsWith('anonymous@')) {
      const address = raw.slice('anonymous@'.length);
      return { ...base, kind: 'anonymous', address, label: `a caller at ${address}, not signed in`, short: address };
    }
    const source = PROVISIONING_ACTOR.exec(raw);
    if (source) return { ...base, kind: 'system', label: provisioningLabel(source[1] ?? '', source[2] ?? ''), short: `${source[1]?.toUpperCase() ?? ''} ${source[2] ?? ''}` };
    const api = raw.startsWith('api:');
    const device = DEVICE.exec(api ? raw.slice(4) : raw);
    if (device && isUuid(device[1] ?? '')) {
      const userId = device[1] ?? '';
      const deviceId = Number(device[2]);
      const person = this.#people.get(userId) ?? null;
      const workstation = this.workstationName(userId, deviceId);
      const who = person ? personLabel(person) : `unknown user ${shortId(userId)}`;
      return {
        ...base, kind: api ? 'api' : 'workstation', userId, deviceId, person, username: person?.username ?? null, displayName: person?.displayName ?? null, workstation,
        label: api ? `${who} through the relay's API` : who,
        short: person ? person.displayName || person.username : `user ${shortId(userId)}`,
      };
    }
    if (isUuid(raw)) {
      const person = this.#people.get(raw) ?? null;
      if (person) return { ...base, kind: 'user', userId: raw, person, username: person.username, displayName: person.displayName, label: personLabel(person), short: person.displayName || person.username };
      return { ...base, kind: 'user', userId: raw, label: `unknown user ${shortId(raw)}`, short: `user ${shortId(raw)}` };
    }
    return { ...base, kind: 'other', label: raw, short: raw };
  }
}

/** A provisioning source's actor (server/directory/provisioning.ts): `scim:<token>`, `ldap:<sync run>`, `oidc:<issuer>`. */
const PROVISIONING_ACTOR = /^(scim|ldap|oidc):(.+)$/;

function provisioningLabel(kind: string, name: string): string {
  if (kind === 'scim') return `the hospital's directory through SCIM (token “${name}”)`;
  if (kind === 'ldap') return `the hospital's directory through LDAP sync (run ${name})`;
  return `single sign-on from ${name}`;
}

/** "Dr. Anna Smith (asmith, clinician)"; without a display name, "asmith (clinician)". */
export function personLabel(p: AuditPerson): string {
  const detail = [p.username, p.role].filter((s) => s !== '').join(', ');
  return p.displayName ? `${p.displayName}${detail ? ` (${detail})` : ''}` : `${p.username}${p.role ? ` (${p.role})` : ''}`;
}
