import { describe, expect, it } from 'vitest';
import { ANNA, BEN, SAMPLE_DIRECTORY, sampleRecords } from './auditSample';
import { AUDIT_CSV_COLUMNS, AUDIT_CSV_HEADER, AuditCsv, auditCsvRow, csvCell } from './csv';
import type { AuditDirectory } from './people';

/** RFC 4180 as a spreadsheet reads it: quoted cells may hold commas, quotes (doubled) and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  const endCell = () => {
    row.push(cell);
    cell = '';
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === '"' && text[i + 1] === '"') {
      cell += '"';
      i++;
    } else if (quoted) {
      if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      endCell();
    } else if (c === '\r' && text[i + 1] === '\n') {
      endCell();
      rows.push(row);
      row = [];
      i++;
    } else {
      cell += c;
    }
  }
  return rows;
}

const column = (row: string[], name: (typeof AUDIT_CSV_COLUMNS)[number]) => row[AUDIT_CSV_COLUMNS.indexOf(name)];

describe('events.csv', () => {
  it('has flat, named columns: times, the actor by name and workstation, subject, outcome, counterparty, a sentence, the raw ids last', () => {
    const csv = new AuditCsv(SAMPLE_DIRECTORY);
    const rows = parseCsv(AUDIT_CSV_HEADER + sampleRecords().map((r) => csv.row(r)).join(''));
    expect(rows[0]).toEqual([...AUDIT_CSV_COLUMNS]);
    for (const row of rows) expect(row).toHaveLength(AUDIT_CSV_COLUMNS.length);
    const sent = rows.find((r) => column(r, 'type') === 'envelope.accepted')!;
    expect(sent.slice(0, 13)).toEqual([
      sent[0], '2026-11-23T07:30:00.000Z', '2026-11-23 08:30:00 GMT+1', 'asmith', 'Dr. Anna Smith', 'clinician', "Ward 4 nurses' station", '', 'user',
      column(sent, 'subject_id'), 'envelope.accepted', 'Message sent', 'success',
    ]);
    expect(column(sent, 'counterparty')).toBe("bokafor @ Ward 4 nurses' station");
    expect(column(sent, 'actor_id')).toBe(`${ANNA}.1`);
    const delivered = rows.find((r) => column(r, 'type') === 'envelope.delivered')!;
    expect(column(delivered, 'counterparty')).toBe("asmith @ Ward 4 nurses' station");
    const locked = rows.find((r) => column(r, 'type') === 'account.locked')!;
    expect([column(locked, 'actor_kind'), column(locked, 'subject'), column(locked, 'outcome'), column(locked, 'flagged')]).toEqual(['system', 'bokafor', 'locked', 'yes']);
    const exported = rows.find((r) => column(r, 'actor_id') === 'admin:jdoe' && column(r, 'type') === 'audit.exported')!;
    expect([column(exported, 'actor_username'), column(exported, 'actor_kind')]).toEqual(['admin:jdoe', 'admin']);
    expect(rows.map((r) => column(r, 'description')).join('\n')).not.toMatch(/[{}]/);
  });

  it('neutralises formula injection in every cell people can type, and quotes by RFC 4180', () => {
    for (const start of ['=', '+', '-', '@', '\t', '\r']) expect(csvCell(`${start}cmd|' /C calc'!A0`).replace(/^"/, '')).toMatch(/^'/);
    expect(csvCell('=1+1')).toBe("'=1+1");
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('two\nlines')).toBe('"two\nlines"');
    expect(csvCell('-2')).toBe("'-2");
    // After blanks a spreadsheet may trim, full-width forms, DDE's pipe, and a `;` that starts a new cell in a
    // semicolon locale: all neutralised (quoted, a value stays one cell).
    for (const sly of [' =1+1', '\u00a0@SUM(A1)', '\u3000=1+1', '\uff1d1+1', '|calc']) expect(csvCell(sly)).toMatch(/^'/);
    expect(csvCell("a;=cmd|' /C calc'!A0;b")).toBe(`"a;=cmd|' /C calc'!A0;b"`);
    expect(csvCell(-2)).toBe('-2');
    expect(csvCell(null)).toBe('');
    const hostile: AuditDirectory = {
      ...SAMPLE_DIRECTORY,
      people: [{ userId: ANNA, username: '=HYPERLINK("http://evil.example","x")', displayName: '@SUM(1,2)', role: '+clinician' }],
      workstations: [{ userId: ANNA, deviceId: 1, name: '-Ward, "4"' }],
    };
    const row = parseCsv(AUDIT_CSV_HEADER + new AuditCsv(hostile).row({ seq: 1, at: 0, type: 'login.success', actor: `${ANNA}.1`, subject: ANNA, details: { device: 1 } }))[1]!;
    expect([column(row, 'actor_username'), column(row, 'actor_display_name'), column(row, 'actor_role'), column(row, 'actor_workstation')])
      .toEqual(['\'=HYPERLINK("http://evil.example","x")', "'@SUM(1,2)", "'+clinician", '\'-Ward, "4"']);
    expect(column(row, 'subject')).toBe('\'=HYPERLINK("http://evil.example","x")');
  });

  it('guards and quotes exactly as the regular expressions it was first written with, for every UTF-16 unit', () => {
    const FORMULA_START = /^[\s\u00a0\u3000]*[=+\-@\uff1d\uff0b\uff0d\uff20|]|^[\t\r]/;
    const NEEDS_QUOTES = /[",;\t\r\n]/;
    const reference = (value: string) => {
      const safe = FORMULA_START.test(value) ? `'${value}` : value;
      return NEEDS_QUOTES.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
    };
    const differing: string[] = [];
    for (let c = 0; c <= 0xffff; c++) {
      const ch = String.fromCharCode(c);
      for (const value of [ch, `${ch}=1`, `${ch}${ch}+x`, `a${ch}b`, ` ${ch}@`]) if (csvCell(value) !== reference(value)) differing.push(value);
    }
    expect(differing).toEqual([]);
  });

  it("gives local time in the relay's zone, summer and winter, and UTC when the zone is unknown", () => {
    const at = (zone: string, ms: number) => column(parseCsv(AUDIT_CSV_HEADER + auditCsvRow({ seq: 1, at: ms, type: 'x', actor: 'system', subject: '', details: {} }, { ...SAMPLE_DIRECTORY, timeZone: zone }))[1]!, 'time_local');
    expect(at('Europe/Berlin', Date.UTC(2026, 11, 2, 13, 5))).toBe('2026-12-02 14:05:00 GMT+1');
    expect(at('Europe/Berlin', Date.UTC(2026, 6, 2, 13, 5))).toBe('2026-07-02 15:05:00 GMT+2');
    // The hour the clocks go back happens twice; the offset tells the two apart.
    expect(at('Europe/Berlin', Date.UTC(2026, 9, 25, 0, 30))).toBe('2026-10-25 02:30:00 GMT+2');
    expect(at('Europe/Berlin', Date.UTC(2026, 9, 25, 1, 30))).toBe('2026-10-25 02:30:00 GMT+1');
    expect(at('America/New_York', Date.UTC(2026, 11, 2, 13, 5))).toBe('2026-12-02 08:05:00 GMT-5');
    expect(at('Asia/Kathmandu', Date.UTC(2026, 11, 2, 13, 5))).toBe('2026-12-02 18:50:00 GMT+5:45');
    expect(at('UTC', Date.UTC(2026, 11, 2, 13, 5))).toBe('2026-12-02 13:05:00 UTC');
    expect(at('Mars/Olympus_Mons', Date.UTC(2026, 11, 2, 13, 5))).toBe('2026-12-02 13:05:00 UTC');
    expect(at('Europe/Berlin', Number.NaN)).toBe('unknown time');
  });

  it('reads odd records without throwing: no details, details of the wrong shape, no actor', () => {
    const csv = new AuditCsv(SAMPLE_DIRECTORY);
    for (const record of [{ seq: 1, at: 0, type: 'login.failure' }, { seq: 2, at: 0, type: 'login.failure', actor: 'anonymous@x', subject: BEN, details: [1, 2] }, { seq: 3, at: 1e20, type: 'envelope.accepted', actor: 7, details: 'x' }]) {
      const row = parseCsv(AUDIT_CSV_HEADER + csv.row(record))[1]!;
      expect(row).toHaveLength(AUDIT_CSV_COLUMNS.length);
      expect(column(row, 'description')).toMatch(/\.$/);
    }
  });
});
