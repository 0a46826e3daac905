/**
 * Where the core reports what went wrong in the background (a listener that threw, a flush that failed).
 * Injected like the clock. Messages carry ids and codes only, never message text, names, passphrases or
 * key material (habit 8): callers describe errors with `describeError`, which keeps to code and message.
 */
export interface Logger {
  error(message: string): void;
}

/** The default: standard error (in the shell that is the main process's log). */
export const consoleLogger: Logger = {
  error: (message) => console.error(message),
};
