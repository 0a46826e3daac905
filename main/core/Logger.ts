/**
 * Where the core reports what went wrong in the background (a listener that threw, a flush that failed).
 * Injected like the clock. Messages carry ids and codes only, never message text, names, passphrases or
 * key material (habit 8): callers describe errors with `describeError`, which keeps to code and message.
 */
export interface Logger {
  error(message: string): void;
  /** Something the core worked around that IT should hear of (a relay older than this workstation, say). */
  warn?(message: string): void;
}

/** The default: standard error (in the shell that is the main process's log). */
export const consoleLogger: Logger = {
  error: (message) => console.error(message),
  warn: (message) => console.warn(message),
};

/** A warning, to a logger that takes warnings, else as an error (a logger written before warnings still hears it). */
export function logWarning(logger: Logger, message: string): void {
  if (logger.warn) logger.warn(message);
  else logger.error(message);
}
