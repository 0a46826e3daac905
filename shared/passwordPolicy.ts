/**
 * Password policy after NIST SP 800-63B: at least 12 characters, not a commonly used password, not built
 * from the account's own names; no composition rules. The list of common passwords is supplied by the
 * caller (the relay loads a large one; the UI may give feedback with the same function).
 */
export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 1024;

export interface PasswordContext {
  readonly commonPasswords: ReadonlySet<string>;
  /** Words a guesser would try first: username, display name, the product's name. */
  readonly contextWords: readonly string[];
}

/** Returns what is wrong with the password in plain words, or an empty list when it is acceptable. */
export function passwordProblems(password: string, context: PasswordContext): string[] {
  const problems: string[] = [];
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) problems.push(`Use at least ${PASSWORD_MIN_LENGTH} characters (this one has ${length}).`);
  if (length > PASSWORD_MAX_LENGTH) problems.push(`Use at most ${PASSWORD_MAX_LENGTH} characters.`);
  const lower = password.toLowerCase();
  const squashed = lower.replace(/[^a-z0-9]/g, '');
  if (context.commonPasswords.has(lower) || context.commonPasswords.has(squashed)) problems.push('This is a commonly used password; choose another.');
  if (/^(.)\1+$/.test(password)) problems.push('Do not repeat a single character.');
  if (builtFrom(password, context.contextWords)) problems.push('Do not build the password from your name or username.');
  return [...new Set(problems)];
}

/**
 * Whether a secret is little more than one of the words (a name, a username): the word, of 4 letters or
 * more, is in it, with fewer than 6 other letters or digits around it.
 */
export function builtFrom(secret: string, words: readonly string[]): boolean {
  const squashed = secret.toLowerCase().replace(/[^a-z0-9]/g, '');
  return words.some((word) => {
    const w = word.toLowerCase().replace(/[^a-z0-9]/g, '');
    return w.length >= 4 && squashed.includes(w) && squashed.length - w.length < 6;
  });
}

/** A list of passwords as the policies' blocklist: lower-cased, in a set. */
export function blocklistOf(passwords: readonly string[]): ReadonlySet<string> {
  return new Set(passwords.map((p) => p.toLowerCase()));
}
