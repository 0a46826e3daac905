import { dictionary } from '@zxcvbn-ts/language-common';
import { blocklistOf } from './passwordPolicy';

let common: ReadonlySet<string> | undefined;

/**
 * About 49,000 of the most used passwords (the zxcvbn-ts common list), lower-cased: the blocklist of the
 * workstation passphrase policy. The set is made on first use (the renderer's live feedback does without it
 * and the core has the last word). The relay loads the same list only when a password is chosen
 * (server/auth/passwords.ts): importing this module loads the dictionary (8 MiB of a process's memory).
 */
export function commonPasswords(): ReadonlySet<string> {
  common ??= blocklistOf(dictionary['passwords-common'] as string[]);
  return common;
}
