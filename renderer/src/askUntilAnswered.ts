/** How long to wait before asking again after a failed answer: soon at first, then every half minute. */
const RETRY_AFTER_MS = [1_000, 3_000, 10_000, 30_000] as const;

/**
 * Asks the core until it answers, and hands the answer to `onAnswer`; a failed answer is asked again, soon at first,
 * then every half minute. For a check whose silence would hide a warning (the first check of a changed safety
 * number or of one's own new workstation: nothing was known before it, so a failure must not be the last word).
 * Returns what stops it, for an effect's cleanup: an answer after that is dropped, as a newer check has replaced it.
 */
export function askUntilAnswered<T>(ask: () => Promise<T>, onAnswer: (answer: T) => void): () => void {
  let live = true;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const attempt = (failures: number) => {
    ask().then((answer) => live && onAnswer(answer), () => {
      if (live) timer = setTimeout(() => attempt(failures + 1), RETRY_AFTER_MS[Math.min(failures, RETRY_AFTER_MS.length - 1)]);
    });
  };
  attempt(0);
  return () => {
    live = false;
    clearTimeout(timer);
  };
}
