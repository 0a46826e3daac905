import { pino, type DestinationStream, type Logger } from 'pino';

/** The levels the relay logs at (`--log-level` picks the least severe one written; `silent` writes none). */
export type LogLevel = 'error' | 'warn' | 'info';

/** Ids, codes, counts: what a log line may carry beside its message (never key material, passwords, codes or text). */
export type LogFields = Readonly<Record<string, string | number | boolean | null | undefined>>;

/**
 * Where the relay's services write their lines: a message, its level (`error` when not said) and fields. A
 * plain `(line) => void` is one too (tests collect or drop the messages); the relay's own is a JSON log
 * (jsonLog), which also carries the pino logger Fastify's request log is written to.
 */
export type RelayLog = ((message: string, level?: LogLevel, fields?: LogFields) => void) & { readonly logger?: Logger };

/**
 * The relay's structured log: one JSON object a line (`level` as its name, `time` in ISO 8601, `msg`, then
 * the fields), on standard error by default, so standard output keeps only what the relay says on starting
 * (`rounds-server listening on ...`), which scripts read.
 */
export function relayLogger(level: LogLevel | 'silent', destination: DestinationStream = pino.destination({ dest: 2, sync: true })): Logger {
  return pino({
    level,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }, destination);
}

/** The RelayLog that writes to `logger` (and hands it on to Fastify). */
export function jsonLog(logger: Logger): RelayLog {
  const log = (message: string, level: LogLevel = 'error', fields: LogFields = {}) => logger[level](fields, message);
  return Object.assign(log, { logger });
}
