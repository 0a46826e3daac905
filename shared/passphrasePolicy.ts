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

export const PASSPHRASE_RULES = ['tooShort', 'tooLong', 'common', 'repeated', 'personal', 'samePassword', 'guessable'] as const;
export type PassphraseRule = (typeof PASSPHRASE_RULES)[number];

export interface PassphraseContext {
  /** Common passwords, lower-cased (the core passes the large list; the form may pass none). */
  readonly commonPasswords: ReadonlySet<string>;
  /** Words a guesser tries first: the username, the display name, the product's name. */
  readonly personalWords: readonly string[];
  /** The relay account password, when it is chosen in the same form: the two must differ. */
  readonly accountPassword?: string | undefined;
  /**
   * log10 of the guesses a pattern-aware cracker needs (zxcvbn's estimate: dictionaries, keyboard walks,
   * sequences, repeats, the personal words); the core supplies it, the form does without.
   */
  readonly estimateGuessesLog10?: (passphrase: string, personalWords: readonly string[]) => number;
}

/**
 * At Argon2id's cost (64 MiB, 3 passes: about 0.2 s a guess on one core) 10^10 guesses are some 60
 * core-years: out of reach for a copied profile, where no OS key store seals it.
 */
export const PASSPHRASE_MIN_GUESSES_LOG10 = 10;

export interface PassphraseProblem {
  readonly rule: PassphraseRule;
  /** The problem in plain words, for the form. */
  readonly message: string;
}

/** What is wrong with a new passphrase (empty when it is acceptable). */
export function passphraseProblems(raw: string, context: PassphraseContext): PassphraseProblem[] {
  const problems: PassphraseProblem[] = [];
  const length = [...raw].length;
  // Checked in compatibility form: full-width "Ｐａｓｓｗｏｒｄ" (an IME's full-width mode) is "Password".
  const passphrase = raw.normalize('NFKC');
  if (length < PASSPHRASE_MIN_LENGTH) problems.push({ rule: 'tooShort', message: `Use at least ${PASSPHRASE_MIN_LENGTH} characters (this one has ${length}).` });
  if (length > PASSPHRASE_MAX_LENGTH) problems.push({ rule: 'tooLong', message: `Use at most ${PASSPHRASE_MAX_LENGTH} characters.` });
  const lower = passphrase.toLowerCase();
  const squashed = lower.replace(/[^a-z0-9]/g, '');
  if (context.commonPasswords.has(lower) || context.commonPasswords.has(squashed)) problems.push({ rule: 'common', message: 'This is a commonly used password; choose another.' });
  if (/^(.+?)\1+$/su.test(passphrase)) problems.push({ rule: 'repeated', message: 'Do not repeat a character, a word or a group of characters.' });
  // Each word of a name counts on its own ("Dr. Alice Moreau": alice, moreau).
  const personalWords = context.personalWords.flatMap((w) => [w, ...w.split(/[^\p{L}\p{N}]+/u)]).filter((w) => w.length > 0);
  if (builtFrom(passphrase, personalWords)) problems.push({ rule: 'personal', message: 'Do not build the passphrase from your name or username.' });
  if (context.accountPassword !== undefined && context.accountPassword.length > 0 && passphrase === context.accountPassword.normalize('NFKC')) {
    problems.push({ rule: 'samePassword', message: 'Choose a passphrase that is not your account password.' });
  }
  // The pattern-aware estimate is the catch-all: it is reported only when no plainer rule already was.
  if (problems.length === 0 && context.estimateGuessesLog10 && context.estimateGuessesLog10(passphrase, personalWords) < PASSPHRASE_MIN_GUESSES_LOG10) {
    problems.push({ rule: 'guessable', message: 'This passphrase follows a pattern that is quick to guess (a keyboard row, a sequence, a repeated or common word, your name); a few unrelated words work well.' });
  }
  return problems;
}
