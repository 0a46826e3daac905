/**
 * The relay streams its audit log into a SIEM as it is appended: into Debian's rsyslog over TLS (RFC 5425),
 * started here on loopback as the hospital's receiver, and into a JSON-lines file. Nothing is lost while the
 * receiver is down or the relay restarts, and nothing is sent twice past the cursor.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SyslogTlsSink } from '../../server/audit/siem/syslogTlsSink';
import { GENESIS_HASH, recordHash, type AuditEvent, type AuditRecord } from '../../server/audit/AuditRecord';
import { openStore } from '../../server/openStore';
import { RelayProcess, adminCli, backupTo, restoreWith } from '../fixtures/relayProcess';
import { Rsyslog, freePort, makeCa, makeCertificates, receiverMissing, sent, until, type Certificates } from '../fixtures/rsyslogReceiver';
import { useTempDirs } from '../fixtures/tempDirs';

async function appendAudit(dataDir: string, events: readonly AuditEvent[]): Promise<void> {
  const store = openStore(dataDir, undefined, { create: false });
  try {
    await store.appendAudit(events);
  } finally {
    await store.close();
  }
}

async function logOf(dataDir: string): Promise<AuditRecord[]> {
  const store = openStore(dataDir, undefined, { create: false });
  try {
    return await store.auditRecordsAfter(0, 100_000);
  } finally {
    await store.close();
  }
}

/** The last record the relay counts as accepted by the receiver (its durable cursor). */
const cursorSeq = (dataDir: string): number => {
  try {
    return (JSON.parse(readFileSync(join(dataDir, 'siem-cursor'), 'utf8')) as { seq: number }).seq;
  } catch {
    return 0;
  }
};

const created = (n: number, from = 0): AuditEvent[] => Array.from({ length: n }, (_, i) => ({ type: 'account.created', actor: 'admin', subject: `user-${from + i}`, details: { role: 'clinician' } }));

const missing = receiverMissing();

describe('the audit log streamed to rsyslog over TLS', () => {
  const tempDir = useTempDirs();
  let certificates: Certificates;
  let receiver: Rsyslog;
  let relay: RelayProcess | undefined;
  let dataDir: string;
  let config: string;

  beforeAll(async () => {
    if (missing) throw new Error(missing);
    const dir = tempDir();
    certificates = makeCertificates(dir, 'hospital');
    receiver = new Rsyslog(dir, await freePort(), certificates);
    await receiver.start();
    dataDir = tempDir();
    config = join(dir, 'relay-config.json');
    writeFileSync(config, JSON.stringify({ siem: { sink: 'syslog-tls', host: '127.0.0.1', port: receiver.port, caFile: certificates.ca, pollMs: 100, maxRetryDelayMs: 400, batchRecords: 7 } }));
  });

  afterAll(async () => {
    await relay?.stop();
    await receiver?.stop();
  });

  it('sends every record in order, loses none while the receiver is down, and sends none twice after a relay restart', async () => {
    relay = await RelayProcess.start(dataDir, ['--config', config]);
    await appendAudit(dataDir, [...created(20), { type: 'emergency.issued', actor: 'admin', subject: 'user-3', details: { reason: 'ward "4]" \\ night shift' }, flagged: true }]);
    let log = await logOf(dataDir);
    await until('the first records at the receiver', () => receiver.messages().length >= log.length);
    expect(sent(receiver.messages())).toEqual(log.map((r) => `${r.seq}:${r.hash}`));

    // rsyslog parsed each message as RFC 5424: app name, event type as MSGID, the flagged one a warning.
    const parsed = receiver.parsedMessages();
    expect(parsed.every((m) => m['app-name'] === 'rounds-relay')).toBe(true);
    expect(parsed.map((m) => m.msgid)).toEqual(log.map((r) => r.type));
    const flagged = parsed.find((m) => m.msgid === 'emergency.issued');
    expect(flagged).toMatchObject({ syslogseverity: '4', syslogfacility: '10' });
    expect(String(flagged?.['structured-data'])).toContain('flagged="true"');
    const body = JSON.parse(String(flagged?.msg).trim()) as AuditRecord;
    expect(body.details.reason).toBe('ward "4]" \\ night shift');

    // The receiver goes down once the relay has its last batch as accepted (stopped mid-batch, that batch would be sent again); the relay keeps appending; nothing is lost once it is back.
    await until('the cursor at the last record', () => cursorSeq(dataDir) === log.at(-1)?.seq);
    await receiver.stop();
    await appendAudit(dataDir, created(30, 100));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await receiver.start();
    log = await logOf(dataDir);
    await until('the records appended during the outage', () => receiver.messages().length >= log.length);
    expect(sent(receiver.messages())).toEqual(log.map((r) => `${r.seq}:${r.hash}`));

    // The relay stops; records appended meanwhile are sent by the next one, from its cursor and nothing before it.
    await until('the cursor at the last record', () => cursorSeq(dataDir) === log.at(-1)?.seq);
    await relay.stop();
    const cursor = JSON.parse(readFileSync(join(dataDir, 'siem-cursor'), 'utf8')) as { seq: number; hash: string };
    const last = (await logOf(dataDir)).at(-1);
    expect(cursor).toEqual({ seq: last?.seq, hash: last?.hash });
    await appendAudit(dataDir, created(12, 200));
    relay = await RelayProcess.start(dataDir, ['--config', config]);
    log = await logOf(dataDir);
    await until('the records appended while the relay was stopped', () => receiver.messages().length >= log.length);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const received = sent(receiver.messages());
    expect(received).toEqual(log.map((r) => `${r.seq}:${r.hash}`));
    expect(new Set(received).size).toBe(received.length);
  }, 90_000);

  it('sends nothing to a receiver whose certificate is not from the configured CA, or not for the configured name', async () => {
    const other = makeCertificates(tempDir(), 'elsewhere');
    const base = { sink: 'syslog-tls', host: '127.0.0.1', port: receiver.port, facility: 'authpriv', structuredDataId: 'rounds@32473', timeoutMs: 5000, pollMs: 100, maxRetryDelayMs: 400, batchRecords: 10 } as const;
    const before = receiver.messages().length;
    const record = (await logOf(dataDir))[0];
    if (!record) throw new Error('no record');
    await expect(SyslogTlsSink.open({ ...base, caFile: other.ca }).deliver([record])).rejects.toThrow(/certificate/i);
    await expect(SyslogTlsSink.open({ ...base, caFile: certificates.ca, serverName: 'siem.hospital.example' }).deliver([record])).rejects.toThrow(/siem\.hospital\.example|altnames/i);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.messages()).toHaveLength(before);
  });
});

describe('a receiver that accepts known senders only', () => {
  const tempDir = useTempDirs();
  let receiver: Rsyslog | undefined;
  afterAll(async () => {
    await receiver?.stop();
  });

  it('takes the records from a relay that presents a client certificate from its CA, and nothing from one without', async () => {
    if (missing) throw new Error(missing);
    const dir = tempDir();
    const hospital = makeCa(dir, 'hospital');
    receiver = new Rsyslog(dir, await freePort(), hospital.issue('server', 'serverAuth'), 'x509/certvalid');
    await receiver.start();
    const relayCert = hospital.issue('relay', 'clientAuth');
    const base = { sink: 'syslog-tls', host: '127.0.0.1', port: receiver.port, caFile: hospital.ca, facility: 'authpriv', structuredDataId: 'rounds@32473', timeoutMs: 5000, pollMs: 100, maxRetryDelayMs: 400, batchRecords: 10 } as const;
    const content = { seq: 1, at: Date.now(), type: 'login.success' as const, actor: 'system', subject: '', details: {}, flagged: false, prevHash: GENESIS_HASH };
    const record: AuditRecord = { ...content, hash: recordHash(content) };
    await expect(SyslogTlsSink.open(base).deliver([record])).rejects.toThrow();
    await SyslogTlsSink.open({ ...base, clientCertFile: relayCert.cert, clientKeyFile: relayCert.key }).deliver([record]);
    await until('the record from the known sender', () => receiver?.messages().length === 1);
    expect(sent(receiver.messages())).toEqual([`1:${record.hash}`]);
  });
});

/** A data directory whose relay streams its audit log to a JSON-lines file (`pollMs` between looks at the log). */
function jsonLinesRelay(tempDir: () => string, pollMs: number) {
  const dataDir = tempDir();
  const out = join(tempDir(), 'rounds-audit.jsonl');
  const config = join(tempDir(), 'relay.json');
  writeFileSync(config, JSON.stringify({ siem: { sink: 'json-lines', file: out, pollMs } }));
  return {
    dataDir,
    start: () => RelayProcess.start(dataDir, ['--config', config]),
    /** The records the file holds, in order. */
    lines: () => (existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as AuditRecord) : []),
    /** The whole log, once the relay's cursor is at its end. */
    streamed: async (what: string) => {
      const log = await logOf(dataDir);
      await until(what, () => cursorSeq(dataDir) === log.at(-1)?.seq);
      return log;
    },
  };
}

describe('the audit log streamed to a JSON-lines file', () => {
  const tempDir = useTempDirs();

  it('appends one record per line, and a restarted relay goes on after the last line', async () => {
    const { dataDir, start, lines, streamed } = jsonLinesRelay(tempDir, 100);
    let relay = await start();
    try {
      await appendAudit(dataDir, created(5));
      const first = await streamed('the records in the file');
      expect(lines()).toEqual(first);
      await relay.stop();
      await appendAudit(dataDir, created(4, 10));
      relay = await start();
      const all = await streamed('the records appended while the relay was stopped');
      expect(lines()).toEqual(all);
    } finally {
      await relay.stop();
    }
  }, 60_000);

  it('sends, as the relay stops, what was appended since its last look at the log', async () => {
    // It looks at the log once a minute: only the stop can send what is appended now.
    const { dataDir, start, lines } = jsonLinesRelay(tempDir, 60_000);
    const relay = await start();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await appendAudit(dataDir, created(3));
    await relay.stop();
    const log = await logOf(dataDir);
    expect(lines()).toEqual(log);
    expect(cursorSeq(dataDir)).toBe(log.at(-1)?.seq);
  }, 60_000);

  it('after a restore from a backup, goes on with the restore record: what the SIEM had up to the backup is not sent again', async () => {
    const { dataDir, start, lines, streamed } = jsonLinesRelay(tempDir, 100);
    const backup = join(tempDir(), 'relay.age');
    let relay = await start();
    await appendAudit(dataDir, created(5));
    const backedUp = await streamed('the records before the backup');
    await relay.stop();
    const made = adminCli(['backup', '--data', dataDir, '--out', backup, ...backupTo()]);
    expect(made.status, made.stderr).toBe(0);

    relay = await start();
    await appendAudit(dataDir, created(4, 10));
    const lost = await streamed('the records the restore will lose');
    await relay.stop();
    const restored = adminCli(['restore', '--data', dataDir, '--from', backup, '--force', ...restoreWith()]);
    expect(restored.status, restored.stderr).toBe(0);

    relay = await start();
    try {
      await appendAudit(dataDir, created(2, 20));
      const after = await streamed('the restored log');
      const restore = after.find((r) => r.type === 'audit.log_restored');
      expect(restore?.seq).toBe((backedUp.at(-1)?.seq ?? 0) + 1);
      // What the SIEM has: the log up to the restore, then the restored log from its restore record on; nothing twice.
      expect(lines()).toEqual([...lost, ...after.filter((r) => r.seq >= (restore?.seq ?? 0))]);
    } finally {
      await relay.stop();
    }
  }, 90_000);
});

describe('a SIEM config that cannot work stops the relay at start, saying why', () => {
  const tempDir = useTempDirs();

  it.each([
    ['not JSON', '{ siem: ', /not valid JSON/],
    ['an unknown sink', JSON.stringify({ siem: { sink: 'splunk-hec', url: 'https://x' } }), /siem\.sink: .*'syslog-tls' \| 'json-lines'/],
    ['journald', JSON.stringify({ siem: { sink: 'journald' } }), /journald is not offered .*json-lines/],
    ['a CA file that is not there', JSON.stringify({ siem: { sink: 'syslog-tls', host: 'siem.example', caFile: 'no-such-ca.pem' } }), /cannot read siem\.caFile .*no-such-ca\.pem/],
  ])('%s', (_what, text, message) => {
    const dir = tempDir();
    const config = join(dir, 'relay.json');
    writeFileSync(config, text);
    const result = adminCli(['serve', '--data', join(dir, 'data'), '--port', '0', '--config', config]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
