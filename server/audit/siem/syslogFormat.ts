import type { AuditRecord } from '../AuditRecord';
import { auditRecordJson } from './auditRecordJson';
import { SYSLOG_FACILITIES, type SyslogFacility } from './SiemConfig';

/*
 * RFC 5424 syslog messages for audit records, framed for TLS transport by RFC 5425 (octet counting).
 *
 *   <PRI>1 TIMESTAMP HOSTNAME rounds-relay PROCID MSGID [SD-ID seq=".." actor=".." subject=".." flagged=".." hash=".."] MSG
 *
 * MSGID is the event type; the structured data carries what a SIEM filters and correlates on, and `seq`
 * in every message lets it notice a gap; MSG is the whole record as JSON (auditRecordJson.ts). MSG is sent
 * without the UTF-8 byte order mark (RFC 5424's MSG-ANY): SIEM JSON parsers take the bare JSON, which is
 * ASCII unless an admin typed a reason in another script.
 */
export const APP_NAME = 'rounds-relay';

/** RFC 5424 section 6.2.1 severities used here. */
export const SEVERITY = { warning: 4, notice: 5, informational: 6 } as const;

/** Failures and refusals (a failed sign-in, a refused envelope): worth a look, not an alarm. */
const NOTICE_TYPES = /\.(failure|throttled|rejected|locked)$|refused$/;

/** Flagged records (emergency access, lockouts: a compliance officer's attention) are warnings; failures and refusals notices; the rest informational. */
export function severityOf(record: Pick<AuditRecord, 'type' | 'flagged'>): number {
  if (record.flagged) return SEVERITY.warning;
  return NOTICE_TYPES.test(record.type) ? SEVERITY.notice : SEVERITY.informational;
}

export interface SyslogFields {
  readonly facility: SyslogFacility;
  /** HOSTNAME: printable ASCII without spaces (checked by SiemConfig). */
  readonly hostname: string;
  readonly procId: number;
  readonly structuredDataId: string;
}

/** PARAM-VALUE escaping of RFC 5424 section 6.3.3: `"`, `\` and `]` are preceded by a backslash. */
export function escapeParamValue(value: string): string {
  return value.replace(/["\\\]]/g, (c) => `\\${c}`);
}

/** MSGID: 1-32 printable ASCII characters, or `-`. Event types are well inside that; anything else is cut to fit. */
function msgId(type: string): string {
  const printable = type.replace(/[^!-~]/g, '_').slice(0, 32);
  return printable === '' ? '-' : printable;
}

/** One record as an RFC 5424 message (UTF-8 bytes). */
export function syslogMessage(record: AuditRecord, fields: SyslogFields): Buffer {
  const pri = SYSLOG_FACILITIES[fields.facility] * 8 + severityOf(record);
  const timestamp = new Date(record.at).toISOString();
  const params: readonly [string, string][] = [
    ['seq', String(record.seq)], ['actor', record.actor], ['subject', record.subject],
    ['flagged', String(record.flagged)], ['hash', record.hash],
  ];
  const sd = `[${fields.structuredDataId}${params.map(([name, value]) => ` ${name}="${escapeParamValue(value)}"`).join('')}]`;
  return Buffer.from(`<${pri}>1 ${timestamp} ${fields.hostname} ${APP_NAME} ${fields.procId} ${msgId(record.type)} ${sd} ${auditRecordJson(record)}`, 'utf8');
}

/** RFC 5425 section 4.3 octet-counting frame: the message's length in bytes, a space, the message. */
export function octetCountedFrame(message: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${message.length} `, 'ascii'), message]);
}
