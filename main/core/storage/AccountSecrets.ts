import { DeviceIdSchema, UserIdSchema, type DeviceId, type UserId } from '../../../shared/ids';
import type { SqlRunner } from './ProfileDatabase';

/** The account this profile belongs to, as the relay registered this device. */
export interface AccountDetails {
  readonly userId: UserId;
  readonly deviceId: DeviceId;
  /** The device credential: a secret, sent only in the Authorization header, never logged. */
  readonly credential: string;
  /** The account's name as the relay knows it (for this profile's own screens). */
  readonly displayName?: string;
  /** The account's role as the relay answered the last sign-in (for this workstation's audit bundles). */
  readonly role?: string;
  /** The name this workstation was enrolled with ("Ward 4 nurses' station"); unknown for profiles enrolled before it was kept. */
  readonly deviceName?: string;
}

const AUDIT_SIGNING_KEY = 'auditSigningKey';

/**
 * The profile's secrets table, inside the encrypted database and never in a plain file: the account and
 * device credential, and the device's audit signing key. Nothing read from here reaches a log.
 */
export class AccountSecrets {
  constructor(private readonly db: SqlRunner) {}

  /** The account, or undefined before the profile was enrolled. */
  account(): AccountDetails | undefined {
    const rows = this.db.all<{ name: string; value: string }>('SELECT name, value FROM secrets');
    const map = new Map(rows.map((r) => [r.name, r.value]));
    const userId = map.get('userId');
    const deviceId = map.get('deviceId');
    const credential = map.get('credential');
    if (!userId || !deviceId || !credential) return undefined;
    const [displayName, role, deviceName] = [map.get('displayName'), map.get('role'), map.get('deviceName')];
    return {
      userId: UserIdSchema.parse(userId), deviceId: DeviceIdSchema.parse(Number(deviceId)), credential,
      ...(displayName ? { displayName } : {}), ...(role ? { role } : {}), ...(deviceName ? { deviceName } : {}),
    };
  }

  /** Records the account (at enrollment), or its new credential and name (at a sign-in), in one transaction. */
  saveAccount(account: AccountDetails): void {
    this.db.transaction(() => {
      for (const [name, value] of Object.entries(account)) if (value !== undefined) this.#set(name, String(value));
    });
  }

  /** The device's Ed25519 audit key (PKCS#8 PEM), if it has one. */
  auditSigningKey(): string | undefined {
    return this.db.get<{ value: string }>('SELECT value FROM secrets WHERE name = $n', { n: AUDIT_SIGNING_KEY })?.value;
  }

  saveAuditSigningKey(pem: string): void {
    this.#set(AUDIT_SIGNING_KEY, pem);
  }

  #set(name: string, value: string): void {
    this.db.run('INSERT INTO secrets (name, value) VALUES ($n, $v) ON CONFLICT (name) DO UPDATE SET value = excluded.value', { n: name, v: value });
  }
}
