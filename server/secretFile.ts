import { readFileSync } from 'node:fs';
import { ConfigurationError } from './ConfigurationError';

/*
 * The relay's secrets come from files, never from flags or the config file itself: the database password, the
 * LDAP bind password, the OpenID Connect client secret, a backup's passphrase or identity. One reader, so each
 * says the same thing when the file is missing or empty. Secret: what is read is never logged and never part of
 * an error message (only the path and the system's error code are).
 */

/** The whole file, or standard input for `-` (to pipe a secret in without copying it to disk). */
export function readSecretFile(path: string, what: string): string {
  try {
    return readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (error) {
    throw new ConfigurationError(`cannot read the ${what} ${path === '-' ? 'from standard input' : `file ${path}`} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`, { cause: error });
  }
}

/** The secret on the file's first line, without the line break (spaces are part of it); an empty one is refused. */
export function readSecretLine(path: string, what: string): string {
  const line = readSecretFile(path, what).split(/\r?\n/)[0] ?? '';
  if (line === '') throw new ConfigurationError(`the ${what} ${path === '-' ? 'on standard input' : `file ${path}`} is empty (its first line is the ${what})`);
  return line;
}
