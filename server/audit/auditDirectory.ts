import type { AuditDirectory, AuditPerson, AuditWorkstation } from '../../shared/audit/people';
import { ConfigurationError } from '../ConfigurationError';
import type { RelayStore } from '../storage/RelayStore';

/**
 * Who the ids in the relay's audit records are, at the moment of an export: every account the relay has
 * (deactivated ones and those still to enroll included: old records name them) with its username, display
 * name and role, and every workstation ever enrolled (revoked and expired emergency ones included) with
 * the name it was enrolled with. Names only: no credential, hash or secret of the store reaches it.
 *
 * `timeZone` is the relay's IANA time zone for the bundle's local-time columns: the one given, else the
 * relay process's own (`TZ`, else the system's), else UTC.
 */
export async function auditDirectory(store: Pick<RelayStore, 'listUsers' | 'devices'>, timeZone?: string): Promise<AuditDirectory> {
  const users = await store.listUsers();
  const people: AuditPerson[] = [];
  const workstations: AuditWorkstation[] = [];
  for (const user of users) {
    people.push({ userId: user.id, username: user.username, displayName: user.displayName, role: user.role });
    for (const device of await store.devices(user.id)) workstations.push({ userId: user.id, deviceId: device.deviceId, name: device.name });
  }
  return { people, workstations, timeZone: relayTimeZone(timeZone) };
}

/** The IANA zone named (checked: a misspelt one is a ConfigurationError, never a column of wrong times), or this process's, or UTC. */
export function relayTimeZone(named?: string): string {
  if (named !== undefined) {
    try {
      return new Intl.DateTimeFormat('en', { timeZone: named }).resolvedOptions().timeZone;
    } catch {
      throw new ConfigurationError(`unknown time zone ${JSON.stringify(named)}: use an IANA name such as Europe/London`);
    }
  }
  const own = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return own || 'UTC';
}
