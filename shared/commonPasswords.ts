import { dictionary } from '@zxcvbn-ts/language-common';

let common: ReadonlySet<string> | undefined;

/**
 * About 49,000 of the most used passwords (the zxcvbn-ts common list), lower-cased: the blocklist of the
 * relay's password policy and of the workstation passphrase policy. Loaded on first use (it is large;
 * the renderer's live feedback does without it and the core has the last word).
 */
export function commonPasswords(): ReadonlySet<string> {
  common ??= new Set((dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()));
  return common;
}
