import { ConfigurationError } from './ConfigurationError';
import { readSecretFile, readSecretLine } from './secretFile';

/** age is loaded by the commands that use it only (it takes a few hundred milliseconds to load). */
const age = () => import('age-encryption');

/*
 * Backups are age files (age-encryption.org/v1, https://age-encryption.org): the standard `age` tool opens
 * one too (`age -d -i identity.txt FILE > backup.zip`). Secret boundary: passphrases, identities and the
 * backup's plaintext pass through here; none is ever printed or logged (messages name files, never content).
 */

/** How a backup is encrypted: to X25519 public keys (`age1…`, any one of whose identities opens it), or to a passphrase (scrypt). */
export type BackupEncryption =
  | { readonly kind: 'recipients'; readonly recipients: readonly string[] }
  | { readonly kind: 'passphrase'; readonly passphrase: string };

/** What a restore was given to open a backup. */
export interface BackupSecrets {
  readonly identities: readonly string[];
  readonly passphrase?: string;
}

/** What a backup file needs, read from its header before anything is decrypted. */
export type BackupNeeds =
  | { readonly kind: 'passphrase' }
  | { readonly kind: 'identity'; readonly recipients: readonly string[] }
  | { readonly kind: 'unencrypted-zip' }
  | { readonly kind: 'unknown' };

const AGE_VERSION_LINE = 'age-encryption.org/v1';
/**
 * Names, in the header, each X25519 recipient a backup is encrypted to (age's own stanzas do not say), so a
 * restore can say which identity it needs. Identities ignore stanzas of other types, age's included; a scrypt
 * file never carries it (age wants a passphrase stanza alone).
 */
const RECIPIENT_NAME_STANZA = 'rounds.relay/recipient';
const X25519_RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;
const X25519_IDENTITY = /^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/;
const MIN_PASSPHRASE = 12;

export function parseRecipient(value: string): string {
  const recipient = value.trim();
  if (!X25519_RECIPIENT.test(recipient)) throw new ConfigurationError(`--recipient ${recipient} is not an age X25519 public key (age1 and 58 more characters, as \`rounds-server backup keygen\` prints)`);
  return recipient;
}

/** The passphrase in a file: its first line, without the line break. `forNewBackup` holds it to a minimum length. */
export function readPassphraseFile(path: string, forNewBackup: boolean): string {
  const passphrase = readSecretLine(path, 'passphrase');
  if (forNewBackup && [...passphrase].length < MIN_PASSPHRASE) {
    throw new ConfigurationError(`the passphrase in ${path} is shorter than ${MIN_PASSPHRASE} characters: anyone with the backup could guess it offline; use a longer one (five or more random words)`);
  }
  return passphrase;
}

/** The age identities (`AGE-SECRET-KEY-1…`) in an identity file, as `backup keygen` or age-keygen write it. */
export function readIdentityFile(path: string): string[] {
  const identities = readSecretFile(path, 'identity').split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
  if (identities.length === 0 || !identities.every((line) => X25519_IDENTITY.test(line))) {
    throw new ConfigurationError(`${path === '-' ? 'standard input' : path} holds no age X25519 identity (a line AGE-SECRET-KEY-1…, as \`rounds-server backup keygen\` writes)`);
  }
  return identities;
}

/** A new key pair for backups: the identity (secret, for the restore) and its recipient (public, for `backup --recipient`). */
export async function newBackupIdentity(now: Date = new Date()): Promise<{ recipient: string; identityFile: string }> {
  const { generateX25519Identity, identityToRecipient } = await age();
  const identity = await generateX25519Identity();
  const recipient = await identityToRecipient(identity);
  return { recipient, identityFile: `# created: ${now.toISOString()}\n# public key: ${recipient}\n${identity}\n` };
}

export async function encryptBackup(plaintext: Uint8Array, encryption: BackupEncryption): Promise<Uint8Array> {
  const { Encrypter, Stanza } = await age();
  const encrypter = new Encrypter();
  if (encryption.kind === 'passphrase') encrypter.setPassphrase(encryption.passphrase);
  else {
    if (encryption.recipients.length === 0) throw new ConfigurationError('a backup needs at least one recipient');
    for (const recipient of encryption.recipients) encrypter.addRecipient(parseRecipient(recipient));
    encrypter.addRecipient({ wrapFileKey: () => encryption.recipients.map((recipient) => new Stanza([RECIPIENT_NAME_STANZA, recipient], new Uint8Array(0))) });
  }
  return encrypter.encrypt(plaintext);
}

/** The stanza lines of an age header (`-> type args…`), up to its MAC line; null when `bytes` is no age file. */
function stanzaLines(bytes: Uint8Array): string[][] | null {
  const head = Buffer.from(bytes.subarray(0, 64 * 1024)).toString('latin1').split('\n');
  if (head[0] !== AGE_VERSION_LINE) return null;
  const stanzas: string[][] = [];
  for (const line of head.slice(1)) {
    if (line.startsWith('---')) return stanzas;
    if (line.startsWith('-> ')) stanzas.push(line.slice(3).split(' '));
  }
  return stanzas;
}

export function backupNeeds(bytes: Uint8Array): BackupNeeds {
  const stanzas = stanzaLines(bytes);
  if (stanzas === null) return Buffer.from(bytes.subarray(0, 4)).equals(Buffer.from('PK\x03\x04', 'latin1')) ? { kind: 'unencrypted-zip' } : { kind: 'unknown' };
  if (stanzas.some((s) => s[0] === 'scrypt')) return { kind: 'passphrase' };
  return { kind: 'identity', recipients: stanzas.filter((s) => s[0] === RECIPIENT_NAME_STANZA && s[1]).map((s) => s[1] ?? '') };
}

function recipientList(recipients: readonly string[]): string {
  if (recipients.length === 0) return 'an X25519 recipient';
  return `the X25519 recipient${recipients.length > 1 ? 's' : ''} ${recipients.join(', ')}`;
}

/**
 * Decrypts an age backup with what the restore was given, after saying exactly what is missing if the wrong
 * kind of secret (or none) was given. Every failure is a ConfigurationError that ends "nothing was restored":
 * nothing is written anywhere before the whole file has decrypted and authenticated.
 */
export async function decryptBackup(bytes: Uint8Array, needs: BackupNeeds & { kind: 'passphrase' | 'identity' }, secrets: BackupSecrets, file: string): Promise<Uint8Array> {
  const { Decrypter } = await age();
  const decrypter = new Decrypter();
  if (needs.kind === 'passphrase') {
    if (secrets.passphrase === undefined) throw new ConfigurationError(`${file} is encrypted to a passphrase: pass --passphrase-file FILE (or - to read it from standard input); nothing was restored`);
    decrypter.addPassphrase(secrets.passphrase);
  } else {
    if (secrets.identities.length === 0) throw new ConfigurationError(`${file} is encrypted to ${recipientList(needs.recipients)}: pass --identity FILE, the identity file \`rounds-server backup keygen\` wrote for it (or - to read it from standard input); nothing was restored`);
    for (const identity of secrets.identities) decrypter.addIdentity(identity);
  }
  try {
    return await decrypter.decrypt(bytes);
  } catch (error) {
    const reason = (error as Error).message;
    if (/no identity matched/.test(reason)) {
      throw new ConfigurationError(needs.kind === 'passphrase'
        ? `the passphrase given does not open ${file}; nothing was restored`
        : `the identity given is not one ${file} is encrypted to (${recipientList(needs.recipients)}); nothing was restored`, { cause: error });
    }
    throw new ConfigurationError(`${file} is damaged or was altered (${reason}); nothing was restored`, { cause: error });
  }
}
