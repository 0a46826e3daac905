import type Database from '@signalapp/sqlcipher';
import { randomBytes } from 'node:crypto';
import { ConfigurationError } from '../../ConfigurationError';

/*
 * Secret boundary: the relay database's SQLCipher key. It is a random 256-bit raw key (no passphrase, so no
 * KDF inside SQLCipher: opening costs ~0.3 ms, not ~100 ms of PBKDF2), kept outside the database it opens
 * (DatabaseKeyFile.ts says where). It crosses into SQLCipher as hex text in `PRAGMA key` and is never
 * printed or logged.
 */

/** The raw 32-byte key of a relay database. */
export type DatabaseKey = Buffer & { readonly __brand: 'DatabaseKey' };

const KEY_BYTES = 32;
const KEY_TEXT = /^([0-9a-f]{64})\s*$/i;

export function newDatabaseKey(): DatabaseKey {
  return randomBytes(KEY_BYTES) as DatabaseKey;
}

/** The key as it is kept in a key file: 64 hexadecimal digits and a newline. */
export function formatDatabaseKey(key: DatabaseKey): string {
  return `${key.toString('hex')}\n`;
}

/** A key file's text as a key; `where` names the file in the error (never the content). */
export function parseDatabaseKey(text: string, where: string): DatabaseKey {
  const hex = KEY_TEXT.exec(text)?.[1];
  if (!hex) throw new ConfigurationError(`${where} does not hold a database key (64 hexadecimal digits, as \`openssl rand -hex 32\` prints)`);
  return Buffer.from(hex, 'hex') as DatabaseKey;
}

export function sameDatabaseKey(a: DatabaseKey | null, b: DatabaseKey | null): boolean {
  return a !== null && b !== null && a.equals(b);
}

/** The `KEY` clause of an ATTACH: a raw key, or `''` for a plaintext database. */
export function attachKeyClause(key: DatabaseKey | null): string {
  return key ? `KEY "x'${key.toString('hex')}'"` : "KEY ''";
}

/** The key, or the database, is wrong: SQLCipher cannot tell the two apart ("file is not a database"). */
export class DatabaseKeyError extends ConfigurationError {}

/**
 * Keys an open connection and proves the key opens the file by reading its schema. A wrong key (or a file that
 * is no database) throws DatabaseKeyError; SQLCipher's own log line about it is held back, the error says it.
 */
export function applyDatabaseKey(db: Database, key: DatabaseKey, path: string): void {
  db.pragma(`key = "x'${key.toString('hex')}'"`);
  const level = String(db.pragma('cipher_log_level', { simple: true }));
  db.pragma('cipher_log_level = NONE');
  try {
    db.exec('SELECT count(*) FROM sqlite_master');
  } catch (error) {
    if ((error as { code?: string }).code === 'SQLITE_NOTADB') throw new DatabaseKeyError(`${path} cannot be opened with this key`, { cause: error });
    throw error;
  } finally {
    db.pragma(`cipher_log_level = ${/^[A-Z]+$/.test(level) ? level : 'WARN'}`);
  }
}
