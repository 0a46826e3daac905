import { describe, expect, it } from 'vitest';
import { ANNA, BEN, SAMPLE_DIRECTORY, SAMPLE_VERIFICATION, sampleRecords, sampleReportInput } from './auditSample';
import { AuditCsv } from './csv';
import { AuditDescriber, type DescribedRecord } from './describe';
import { LocalTimes } from './localTimes';
import { AuditNames } from './people';
import { AuditReport, AuditReportIncomplete, type AuditReportInput } from './report';

function render(input: AuditReportInput = sampleReportInput(), records: Iterable<DescribedRecord> = sampleRecords()): string {
  const report = new AuditReport(input);
  for (const r of records) report.add(r);
  return report.render();
}

/** The page's visible text, roughly: inline tags dropped, block tags a space, entities decoded. */
const text = (html: string) => html.replace(/<style>[\s\S]*?<\/style>/, '')
  .replace(/<\/?(?:strong|span|code|a|em)\b[^>]*>/g, '').replace(/<[^>]+>/g, ' ')
  .replace(/&#(\d+);/g, (_m, n: string) => String.fromCharCode(Number(n))).replace(/\s+/g, ' ');
const section = (html: string, id: string) => html.slice(html.indexOf(`<section id="${id}"`), html.indexOf('</section>', html.indexOf(`<section id="${id}"`)));

describe('report.html', () => {
  it('names people, workstations and administrators instead of ids, and never shows JSON or record hashes', () => {
    const html = render();
    const body = text(html);
    expect(body).toContain("Dr. Anna Smith (asmith, clinician) signed in at Ward 4 nurses' station.");
    expect(body).toContain('Failed sign-in for Ben Okafor (bokafor, nurse) from 203.0.113.77: wrong one-time code (5th in a row).');
    expect(body).toContain('Administrator jdoe (relay command line) issued emergency access for Dr. Anna Smith (asmith, clinician)');
    expect(html).not.toContain(ANNA);
    expect(html).not.toContain(BEN);
    expect(body).not.toMatch(/"prevHash"|\{"|[0-9a-f]{64}/);
  });

  it('states what was verified and how to check it, with an open range in words', () => {
    const html = render();
    const verification = text(section(html, 'verification'));
    expect(verification).toContain('5c1f 0a7e 9b3d 2c4f 8a6e 0d1b 7c9f 2a3e 4d5b 6c7a 8e9f 0a1b 2c3d 4e5f 6a7b 8c9d');
    expect(verification).toContain('e3b9 8a4d a31a 127d 4bde 6e43 033f 66ba 274c ab0e b7eb 1c70 ec41 402b f627 3dd8');
    expect(verification).toContain('131 records');
    expect(verification).toContain('From the start of the log to the time of export (2026-11-29 08:00:00 GMT+1)');
    expect(verification).toContain('rounds-audit verify BUNDLE --key org-audit.pub.pem --previous EARLIER-BUNDLE');
    expect(verification).toContain('sha256sum -c SHA256SUMS');
    expect(verification).toContain('openssl pkeyutl -verify -pubin -inkey org-audit.pub.pem -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig');
    expect(verification).toContain('This log begins at record 1.');
    expect(html).not.toContain('1970');
    const closed = text(render(sampleReportInput({ range: { from: Date.UTC(2026, 10, 23), to: Date.UTC(2026, 10, 30), user: 'asmith' } })));
    expect(closed).toContain('From 2026-11-23 01:00:00 GMT+1 to 2026-11-30 01:00:00 GMT+1, for Dr. Anna Smith (asmith, clinician)');
    const restored = text(render(sampleReportInput({ verification: { ...SAMPLE_VERIFICATION, firstSeq: 49 } })));
    expect(restored).toContain('This log begins at record 49: it was started after a restore from a backup.');
  });

  it('names the user and the workstation of a workstation bundle at the top, and how to tie its key to the relay', () => {
    const html = render(sampleReportInput({
      title: 'Rounds workstation audit log', origin: `rounds.client/${ANNA}.1`,
      verification: { ...SAMPLE_VERIFICATION, kind: 'workstation', workstation: { username: 'asmith', displayName: 'Dr. Anna Smith', deviceName: "Ward 4 nurses' station" } },
    }), [{ seq: 1, at: Date.UTC(2026, 11, 2, 8), type: 'session.unlocked', details: { keyProtection: 'os' } }]);
    const top = text(html.slice(0, html.indexOf('</header>')));
    expect(top).toContain("Workstation “Ward 4 nurses' station”, used by Dr. Anna Smith (asmith)");
    expect(text(section(html, 'verification'))).toContain('rounds-audit verify BUNDLE --relay-bundle RELAY-BUNDLE');
    expect(text(section(html, 'timeline'))).toContain("Dr. Anna Smith (asmith, clinician) unlocked Rounds at Ward 4 nurses' station");
  });

  it('puts flagged events first, in a section of their own', () => {
    const html = render();
    expect(html.indexOf('id="flagged"')).toBeLessThan(html.indexOf('id="timeline"'));
    const flagged = text(section(html, 'flagged'));
    expect(flagged).toContain('signed in with emergency access from 10.20.4.18');
    expect(flagged).toContain('Sign-ins without an enrolled workstation were locked for Ben Okafor');
    expect(flagged).not.toContain('signed in at Ward 4');
  });

  it('escapes whatever people typed: usernames, display names, workstation names, reasons', () => {
    const hostile = '<script>alert(1)</script><img src=x onerror=alert(2)>';
    const html = render(sampleReportInput({
      title: `Audit ${hostile}`,
      directory: { ...SAMPLE_DIRECTORY, people: SAMPLE_DIRECTORY.people.map((p) => (p.userId === ANNA ? { ...p, username: hostile, displayName: `Dr. ${hostile}` } : p)), workstations: [{ userId: ANNA, deviceId: 1, name: hostile }] },
      warning: hostile,
    }), [
      ...sampleRecords(),
      { seq: 1000, at: Date.UTC(2026, 10, 29), type: 'emergency.issued', actor: `admin:${hostile}`, subject: ANNA, details: { reason: hostile }, flagged: true },
      { seq: 1001, at: Date.UTC(2026, 10, 29), type: hostile, actor: hostile, subject: hostile, details: { [hostile]: hostile } },
    ]);
    expect(html).not.toMatch(/<script|<img|onerror=alert\(2\)>/i);
    expect(html).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`);
  });

  it('keeps a bounded timeline over 100,000 records, flagged ones kept first, and points to events.csv for the rest', () => {
    const records = function* (): Generator<DescribedRecord> {
      for (let seq = 1; seq <= 100_000; seq++) {
        const flagged = seq % 1000 === 0;
        yield flagged
          ? { seq, at: Date.UTC(2026, 0, 1) + seq * 60_000, type: 'login.failure', actor: 'anonymous@10.0.0.7', subject: BEN, details: { factor: 'password', consecutive: 5 }, flagged }
          : { seq, at: Date.UTC(2026, 0, 1) + seq * 60_000, type: 'login.success', actor: `${ANNA}.1`, subject: ANNA, details: { device: 1 } };
      }
    };
    const html = render(sampleReportInput({ timelineLimit: 500, flaggedLimit: 50 }), records());
    const rows = (s: string) => (s.match(/<tr class=/g) ?? []).length;
    expect(rows(section(html, 'timeline'))).toBe(550);
    expect(rows(section(html, 'flagged'))).toBe(50);
    expect(text(section(html, 'flagged'))).toContain('The first 50 of 100 flagged events are shown; events.csv lists them all');
    expect(text(section(html, 'timeline'))).toContain('550 of the 100,000 events of this export');
    expect(text(section(html, 'timeline'))).toContain('events.csv has every event');
    expect(text(section(html, 'timeline'))).toContain('Showing only events involving Ben Okafor (bokafor, nurse): 50 of 100 in this timeline, all in events.csv.');
    expect(text(section(html, 'types'))).toMatch(/Signed in login\.success 99,900/);
    expect(text(section(html, 'people'))).toContain("Sign-ins 99,900: Ward 4 nurses' station (99,900)");
    expect(html).toContain('Events per day (Europe/Berlin) from 2026-01-01 to 2026-03-11');
    expect(html.length).toBeLessThan(1_000_000);
  });

  it('filters the timeline by person and by type without scripts: anchors, :target rules, a note of what is shown', () => {
    const html = render();
    const timeline = section(html, 'timeline');
    const anna = /<a href="#(who-\d+)">Dr\. Anna Smith \(asmith, clinician\)<\/a>/.exec(timeline)?.[1];
    expect(anna).toBeDefined();
    const index = anna!.slice('who-'.length);
    expect(timeline).toContain(`<span class="filter-target" id="${anna}"></span>`);
    expect(html).toContain(`#${anna}:target~table tbody tr:not(.p${index}){display:none}`);
    expect(timeline).toMatch(new RegExp(`<p class="fs fs-${anna}">Showing only events involving <strong>Dr\\. Anna Smith`));
    expect(timeline).toMatch(/<a href="#what-\d+">Failed sign-in<\/a>/);
    expect(html).toContain(`id="person-${index}"`);
    expect(html).not.toMatch(/<script/i);
  });

  it('gives the same page with a describer shared with the CSV, facts worked out once per record', () => {
    const describer = new AuditDescriber(new AuditNames(SAMPLE_DIRECTORY), new LocalTimes(SAMPLE_DIRECTORY.timeZone));
    const report = new AuditReport({ ...sampleReportInput(), describer });
    const csv = new AuditCsv(SAMPLE_DIRECTORY, { describer });
    const alone = new AuditCsv(SAMPLE_DIRECTORY);
    for (const r of sampleRecords()) {
      const facts = describer.facts(r);
      expect(csv.row(r, facts)).toBe(alone.row(r));
      report.add(r, facts);
    }
    expect(report.render()).toBe(render());
  });

  it('takes the verification facts at render, for an export that knows its tree only at the end', () => {
    const { verification, ...rest } = sampleReportInput();
    const report = new AuditReport(rest);
    for (const r of sampleRecords()) report.add(r);
    expect(() => report.render()).toThrow(AuditReportIncomplete);
    expect(report.render(verification)).toBe(render());
  });

  it('is written even when a record carries a time no calendar holds', () => {
    const [first, second] = sampleRecords();
    const odd = [{ ...first, at: 9e15 } as DescribedRecord, { ...second, at: Number.NaN } as DescribedRecord];
    const body = text(render(sampleReportInput(), odd));
    expect(body).toContain('Events in this export 2');
  });

  it('tells an empty export plainly', () => {
    const body = text(render(sampleReportInput(), []));
    expect(body).toContain('None in this export.');
    expect(body).toContain('No events in this range.');
  });


  it('charts a log whose times span millennia (one record far in the future) in at most 400 bars', () => {
    const records = [...sampleRecords()];
    const html = render(sampleReportInput(), [...records, { ...records[0]!, seq: 9_999, at: 8.6e15 }]);
    const chart = section(html, 'days');
    expect(chart).toMatch(/Events per [\d,]+ days \(Europe\/Berlin\) from/);
    expect((chart.match(/<rect /g) ?? []).length).toBeLessThanOrEqual(400);
  });
});
