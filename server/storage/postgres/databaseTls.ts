/**
 * TLS between a relay and its PostgreSQL database, asked for in the --database URL with the parameters
 * every PostgreSQL client knows: `?sslmode=verify-full&sslrootcert=/etc/rounds/database-ca.pem`. The
 * database holds password hashes, TOTP secrets and every queued envelope: the relay talks to it encrypted
 * and only to the server the certificate names, or not at all. Modes that encrypt without checking who
 * answers (`require`, `prefer`, `allow`) are refused, not quietly weakened: a machine in the middle could
 * read everything while the operator believed the link was protected.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { ConfigurationError } from '../../ConfigurationError';

/** What the --database URL may say about TLS. */
export type DatabaseTlsMode = 'disable' | 'verify-ca' | 'verify-full';

const MODES: ReadonlySet<string> = new Set<DatabaseTlsMode>(['disable', 'verify-ca', 'verify-full']);
const UNVERIFIED: ReadonlySet<string> = new Set(['require', 'prefer', 'allow']);
const PARAMETERS: ReadonlySet<string> = new Set(['sslmode', 'sslrootcert']);

/** Checks the URL's parameters: only sslmode and sslrootcert, and only a mode that verifies the server (or none). */
export function checkDatabaseTlsParameters(url: URL): void {
  for (const name of url.searchParams.keys()) {
    if (!PARAMETERS.has(name)) throw new ConfigurationError(`--database takes no parameter ${name}: only sslmode and sslrootcert (TLS to the database)`);
  }
  const mode = url.searchParams.get('sslmode');
  if (mode !== null && UNVERIFIED.has(mode)) {
    throw new ConfigurationError(`--database sslmode=${mode} encrypts without checking which server answers: use sslmode=verify-full with sslrootcert=<the CA that signed the database's certificate>`);
  }
  if (mode !== null && !MODES.has(mode)) throw new ConfigurationError(`--database sslmode must be verify-full, verify-ca or disable, not ${mode}`);
  const root = url.searchParams.get('sslrootcert');
  if (root !== null && (mode === null || mode === 'disable')) {
    throw new ConfigurationError('--database names an sslrootcert but no sslmode: add sslmode=verify-full');
  }
  // As libpq: a verifying mode needs the CA to verify with. Without one, any certificate from any public CA
  // would do (and verify-ca does not check the name): anyone could answer for the database.
  if ((mode === 'verify-full' || mode === 'verify-ca') && !root) {
    throw new ConfigurationError(`--database sslmode=${mode} needs sslrootcert=<the CA certificate that signed the database's certificate> (or sslrootcert=system with verify-full, for a database whose certificate a public CA signed)`);
  }
  if (root === 'system' && mode !== 'verify-full') throw new ConfigurationError('--database sslrootcert=system is only allowed with sslmode=verify-full (the name must be checked)');
}

/**
 * node-postgres's `ssl` setting for the URL: false without TLS; otherwise the CA file's certificates (Node's
 * own list for `sslrootcert=system`) and, for verify-full, the host name checked against the certificate.
 */
export function databaseTls(url: URL, host: string): false | ConnectionOptions {
  const mode = url.searchParams.get('sslmode') ?? 'disable';
  if (mode === 'disable') return false;
  const caFile = url.searchParams.get('sslrootcert');
  let ca: Buffer | undefined;
  // `system`: the public CAs Node trusts (verify-full only, checked above).
  if (caFile && caFile !== 'system') {
    try {
      ca = readFileSync(caFile);
    } catch (error) {
      throw new ConfigurationError(`cannot read the database's CA certificate ${caFile} (sslrootcert): ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  return {
    rejectUnauthorized: true,
    ...(ca ? { ca } : {}),
    servername: host,
    minVersion: 'TLSv1.2',
    // verify-ca: any certificate the CA signed (some sites name database servers by address only).
    ...(mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
  };
}
