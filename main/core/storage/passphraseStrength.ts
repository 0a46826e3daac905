import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import { adjacencyGraphs, dictionary as commonDictionary } from '@zxcvbn-ts/language-common';
import { dictionary as englishDictionary, translations } from '@zxcvbn-ts/language-en';

let estimator: ZxcvbnFactory | undefined;

/**
 * log10 of the guesses zxcvbn-ts estimates a cracker needs for `passphrase`: it knows common passwords,
 * English words and names, keyboard walks, sequences, repeats, dates and the given personal words. Made
 * on first use (its dictionaries are large); only the core uses it, when a profile is created.
 */
export function estimateGuessesLog10(passphrase: string, personalWords: readonly string[]): number {
  estimator ??= new ZxcvbnFactory({ dictionary: { ...commonDictionary, ...englishDictionary }, graphs: adjacencyGraphs, translations });
  // Past 100 characters the estimate only grows, and zxcvbn's matching takes seconds on a pasted page.
  return estimator.check(passphrase.slice(0, 100), [...personalWords]).guessesLog10;
}
