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
