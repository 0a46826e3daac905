import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalRecord, GENESIS_HASH, recordHash, type AuditRecord } from '../AuditRecord';
import { escapeParamValue, octetCountedFrame, severityOf, syslogMessage } from './syslogFormat';

/* What a SIEM parses out of each message (RFC 5424), and how it is framed on the TLS stream (RFC 5425). */

const content = { seq: 41, at: Date.UTC(2026, 11, 2, 9, 30, 0, 125), type: 'account.unlocked' as const, actor: 'admin', subject: 'user "x"] \\ é', details: { reason: 'locked out ]"', by: 'jdoe' }, flagged: false, prevHash: GENESIS_HASH };
const record: AuditRecord = { ...content, hash: recordHash(content) };
const FIELDS = { facility: 'authpriv', hostname: 'relay-1.hospital.example', procId: 4242, structuredDataId: 'rounds@32473' } as const;

describe('syslogMessage', () => {
  it('is an RFC 5424 message: PRI, version, UTC time, host, rounds-relay, pid, the event type as MSGID', () => {
    const text = syslogMessage(record, FIELDS).toString('utf8');
    const header = '<86>1 2026-12-02T09:30:00.125Z relay-1.hospital.example rounds-relay 4242 account.unlocked [rounds@32473 ';
    expect(text.slice(0, header.length)).toBe(header);
  });

  it('carries seq, actor, subject, flagged and hash as structured data, escaped so that no value can end the element early', () => {
    const text = syslogMessage(record, FIELDS).toString('utf8');
    const sd = /^\S+ \S+ \S+ \S+ \S+ \S+ (\[.*?[^\\]\]) /.exec(text)?.[1];
    expect(sd).toBe(`[rounds@32473 seq="41" actor="admin" subject="user \\"x\\"\\] \\\\ é" flagged="false" hash="${record.hash}"]`);
  });

  it('ends with the record as JSON, whose fields but the hash hash to the hash: a SIEM can check it', () => {
    const text = syslogMessage(record, FIELDS).toString('utf8');
    const json = JSON.parse(text.slice(text.indexOf('] {') + 2)) as AuditRecord;
    expect(json).toEqual(record);
    const { hash, ...rest } = json;
    expect(createHash('sha256').update(canonicalRecord(rest)).digest('hex')).toBe(hash);
  });

  it('raises the severity of flagged records to warning, and of failures and refusals to notice', () => {
    expect(severityOf({ type: 'emergency.used', flagged: true })).toBe(4);
    expect(severityOf({ type: 'login.failure', flagged: false })).toBe(5);
    expect(severityOf({ type: 'envelope.refused', flagged: false })).toBe(5);
    expect(severityOf({ type: 'audit.export_refused', flagged: false })).toBe(5);
    expect(severityOf({ type: 'account.locked', flagged: false })).toBe(5);
    expect(severityOf({ type: 'account.unlocked', flagged: false })).toBe(6);
    expect(severityOf({ type: 'login.success', flagged: false })).toBe(6);
    expect(syslogMessage({ ...record, flagged: true }, { ...FIELDS, facility: 'local4' }).toString('utf8').slice(0, 7)).toBe('<164>1 ');
  });
});

describe('escapeParamValue', () => {
  it('escapes exactly the three characters RFC 5424 names', () => {
    expect(escapeParamValue('a"b\\c]d[e=f')).toBe('a\\"b\\\\c\\]d[e=f');
  });
});

describe('octetCountedFrame', () => {
  it('counts bytes, not characters', () => {
    const message = Buffer.from('<86>1 - - - - - - é', 'utf8');
    expect(octetCountedFrame(message).toString('utf8')).toBe(`${message.length} <86>1 - - - - - - é`);
    expect(message.length).toBe(20);
  });
});
