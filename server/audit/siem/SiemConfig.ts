import { z } from 'zod';

/*
 * The `siem` section of the relay config file (server/relayConfigFile.ts): where the relay streams its audit
 * log as records are appended (SiemStream.ts). Paths in it are resolved against the config file's folder.
 */

/** RFC 5424 section 6.2.1 facility codes, by the names syslog configurations use. */
export const SYSLOG_FACILITIES = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10,
  ftp: 11, ntp: 12, audit: 13, alert: 14, clock: 15,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
} as const;
export type SyslogFacility = keyof typeof SYSLOG_FACILITIES;

/**
 * The private enterprise number 32473 is the one RFC 5612 reserves for examples and documentation: the
 * project has no number of its own yet, so a hospital that registered one may put its own SD-ID here.
 */
export const DEFAULT_SD_ID = 'rounds@32473';

/** SD-NAME of RFC 5424: 1-32 printable US-ASCII characters but `=`, space, `]` and `"`. */
const SD_ID = /^[!#-<>-\\^-~]{1,32}$/;
/** HOSTNAME of RFC 5424: 1-255 printable US-ASCII characters. */
const HOSTNAME = /^[!-~]{1,255}$/;

const path = z.string().min(1, 'a file path is needed');

/** How the stream paces itself; the defaults suit a hospital (README). */
const pacing = {
  /** How often the log is read for new records once everything has been sent (ms). */
  pollMs: z.number().int().min(50).max(60_000).default(1000),
  /** The longest wait between attempts while the receiver is down (ms; the waits double from 1 s up to it). */
  maxRetryDelayMs: z.number().int().min(100).max(3_600_000).default(30_000),
  /** Records per batch: per connection (syslog) or per fsync (file); also what the stream holds in memory at most. */
  batchRecords: z.number().int().min(1).max(10_000).default(500),
};

const SyslogTlsConfigSchema = z.strictObject({
  sink: z.literal('syslog-tls'),
  /** The receiver's name or address; its certificate must name it (or `serverName`). */
  host: z.string().min(1),
  /** 6514 is the port RFC 5425 assigns to syslog over TLS. */
  port: z.number().int().min(1).max(65_535).default(6514),
  /** PEM file of the certificate authorities the receiver's certificate must chain to (the system's are not used). */
  caFile: path,
  /** The name the receiver's certificate must carry when it is not `host` (a load balancer's address, say). */
  serverName: z.string().min(1).optional(),
  /** A client certificate and its key, for receivers that authenticate their senders (both or neither). */
  clientCertFile: path.optional(),
  clientKeyFile: path.optional(),
  facility: z.enum(Object.keys(SYSLOG_FACILITIES) as [SyslogFacility, ...SyslogFacility[]]).default('authpriv'),
  /** HOSTNAME in each message (default: this machine's host name). */
  hostname: z.string().regex(HOSTNAME, 'hostname: printable ASCII without spaces, at most 255 characters').optional(),
  structuredDataId: z.string().regex(SD_ID, 'structuredDataId: an RFC 5424 SD-ID such as name@<your enterprise number>').default(DEFAULT_SD_ID),
  /** How long one batch may take, from connecting to the receiver's close (ms). */
  timeoutMs: z.number().int().min(1000).max(600_000).default(30_000),
  ...pacing,
}).refine((c) => (c.clientCertFile === undefined) === (c.clientKeyFile === undefined), { message: 'clientCertFile and clientKeyFile go together: give both or neither' });

const JsonLinesConfigSchema = z.strictObject({
  sink: z.literal('json-lines'),
  /** Appended to, one record per line, fsynced per batch; reopened each batch, so logrotate may move it. */
  file: path,
  ...pacing,
});

export const SiemConfigSchema = z.discriminatedUnion('sink', [SyslogTlsConfigSchema, JsonLinesConfigSchema]);
export type SiemConfig = z.infer<typeof SiemConfigSchema>;
export type SyslogTlsConfig = z.infer<typeof SyslogTlsConfigSchema>;
export type JsonLinesConfig = z.infer<typeof JsonLinesConfigSchema>;

/** Said when a config asks for journald: why it is not offered, and what to do instead. */
export const JOURNALD_UNSUPPORTED =
  'journald is not offered as a SIEM sink: Node cannot write to the journal\'s datagram socket without a native module, and journald drops messages past its rate limit without telling the sender, so nothing could be promised about delivery. Use "sink": "json-lines" (and have the SIEM\'s agent or rsyslog\'s imfile read that file) or "sink": "syslog-tls"';
