import { builtFrom } from './passwordPolicy';

/**
 * The workstation passphrase's policy: it opens one clinician's encrypted profile on one workstation.
 * Where the operating system seals the profile key (DPAPI, Keychain, libsecret) the passphrase is only
 * ever tried at the lock screen (throttled, wiped after the policy's limit); where nothing seals it, a
 * copy of the profile can be attacked offline at Argon2id speed, so the same rules keep out the guesses
 * that come first. The core enforces it (the form uses the same function for live feedback); a refusal
 * names each rule that failed.
 */
/** As for the relay password: long enough for a few words ("ward four night shift"), which is what people remember. */
export const PASSPHRASE_MIN_LENGTH = 12;
export const PASSPHRASE_MAX_LENGTH = 1024;

export const PASSPHRASE_RULES = ['tooShort', 'tooLong', 'common', 'repeated', 'personal', 'samePassword'] as const;
export type PassphraseRule = (typeof PASSPHRASE_RULES)[number];

export interface PassphraseContext {
  /** Common passwords, lower-cased (the core passes the large list; the form may pass none). */
  readonly commonPasswords: ReadonlySet<string>;
  /** Words a guesser tries first: the username, the display name, the product's name. */
  readonly personalWords: readonly string[];
  /** The relay account password, when it is chosen in the same form: the two must differ. */
  readonly accountPassword?: string | undefined;
}

export interface PassphraseProblem {
  readonly rule: PassphraseRule;
  /** The problem in plain words, for the form. */
  readonly message: string;
}

/** What is wrong with a new passphrase (empty when it is acceptable). */
export function passphraseProblems(passphrase: string, context: PassphraseContext): PassphraseProblem[] {
  const problems: PassphraseProblem[] = [];
  const length = [...passphrase].length;
  if (length < PASSPHRASE_MIN_LENGTH) problems.push({ rule: 'tooShort', message: `Use at least ${PASSPHRASE_MIN_LENGTH} characters (this one has ${length}).` });
  if (length > PASSPHRASE_MAX_LENGTH) problems.push({ rule: 'tooLong', message: `Use at most ${PASSPHRASE_MAX_LENGTH} characters.` });
  const lower = passphrase.toLowerCase();
  const squashed = lower.replace(/[^a-z0-9]/g, '');
  if (context.commonPasswords.has(lower) || context.commonPasswords.has(squashed)) problems.push({ rule: 'common', message: 'This is a commonly used password; choose another.' });
  if (/^(.{1,3})\1+$/su.test(passphrase)) problems.push({ rule: 'repeated', message: 'Do not repeat a character or a short group of characters.' });
  if (builtFrom(passphrase, context.personalWords)) problems.push({ rule: 'personal', message: 'Do not build the passphrase from your name or username.' });
  if (context.accountPassword !== undefined && context.accountPassword.length > 0 && passphrase === context.accountPassword) {
    problems.push({ rule: 'samePassword', message: 'Choose a passphrase that is not your account password.' });
  }
  return problems;
}
