import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalAuditKind } from '../../main/core/audit/LocalAudit';
import { AUDIT_EVENT_TYPES } from '../../server/audit/AuditRecord';
import { ANNA, BEN, SAMPLE_DIRECTORY, sampleRecords, sampleReportInput } from '../../shared/audit/auditSample';
import { AuditDescriber, AUDIT_TYPE_LABELS } from '../../shared/audit/describe';
import { AuditNames } from '../../shared/audit/people';
import { AuditReport } from '../../shared/audit/report';
import { ARTIFACTS, chromiumMissing, launchChromium, seriousA11yViolations } from '../fixtures/browser';
import { useTempDirs } from '../fixtures/tempDirs';

/*
 * report.html as an auditor opens it: the sample week rendered in Debian's Chromium at 1280 px and
 * printed to PDF, with no script, no request and no console message; the per-person and per-type filters
 * work by links alone. Also: every record type the relay or a workstation writes has its own sentence.
 */

/** Every kind a workstation writes: the compiler fails this list when LocalAudit.ts gains one. */
const LOCAL_KINDS = {
  'session.unlocked': true, 'session.signedIn': true, 'session.locked': true, 'session.autoLocked': true, 'session.signedOut': true,
  'session.unlockFailed': true, 'profile.keySealed': true, 'passphrase.changed': true, 'passphrase.belowPolicy': true, 'policy.loaded': true,
  'audit.exported': true, 'audit.relayExported': true, 'retention.deleted': true, 'message.sent': true, 'message.received': true,
  'message.read': true, 'message.rejected': true, 'careTeam.changed': true, 'contact.identityAcknowledged': true, 'contact.verified': true,
  'contact.unverified': true, 'attachment.sent': true, 'attachment.fetched': true, 'attachment.saved': true,
  'attachment.saveAttempted': true, 'attachment.saveFailed': true, 'attachment.copied': true,
  'urgent.acknowledged': true, 'acknowledgement.received': true, 'acknowledgement.refused': true, 'forwarding.refused': true,
} satisfies Record<LocalAuditKind, true>;

describe('every audit record type in words', () => {
  const describer = new AuditDescriber(new AuditNames(SAMPLE_DIRECTORY));

  it('has a sentence and a label of its own for each type the relay writes', () => {
    for (const type of AUDIT_EVENT_TYPES) {
      const sentence = describer.sentence({ seq: 1, at: 0, type, actor: `${ANNA}.1`, subject: BEN, details: {} });
      expect(sentence, type).not.toContain('recorded “');
      expect(AUDIT_TYPE_LABELS[type], type).toBeDefined();
    }
  });

  it('has a sentence and a label of its own for each kind a workstation writes', () => {
    for (const type of Object.keys(LOCAL_KINDS)) {
      expect(describer.sentence({ seq: 1, at: 0, type, details: {} }), type).not.toContain('recorded “');
      expect(AUDIT_TYPE_LABELS[type], type).toBeDefined();
    }
  });
});

const missing = chromiumMissing();
if (missing) console.log(`audit report browser tests skipped: ${missing}`);

describe.skipIf(missing !== null)('report.html in Chromium', () => {
  const dir = useTempDirs();
  let browser: Browser;
  let file: string;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    const report = new AuditReport(sampleReportInput());
    for (const r of sampleRecords()) report.add(r);
    file = join(dir(), 'report.html');
    writeFileSync(file, report.render());
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => problems.push(`console ${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (r) => {
      if (r.url() !== `file://${file}` && !r.url().startsWith(`file://${file}#`)) problems.push(`request: ${r.url()}`);
    });
    await page.goto(`file://${file}`);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  const visibleRows = () => page.locator('#timeline tbody tr:visible');

  it('opens with no console message, no request and no serious accessibility problem', async () => {
    await page.screenshot({ path: join(ARTIFACTS, 'audit-report-1280.png'), fullPage: true });
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toContain("St. Mary's Hospital");
    expect(await seriousA11yViolations(page)).toEqual([]);
    expect(problems).toEqual([]);
  });

  it("shows one person's events, then all again, by links alone", async () => {
    const all = await visibleRows().count();
    expect(all).toBe(sampleRecords().length);
    await page.getByText("Show one person's events").click();
    await page.locator('#timeline .filters').getByRole('link', { name: 'Ben Okafor (bokafor, nurse)' }).click();
    await expect.poll(() => visibleRows().count()).toBeLessThan(all);
    const shown = await visibleRows().allTextContents();
    expect(shown.length).toBeGreaterThan(10);
    for (const row of shown) expect(row).toContain('Ben Okafor');
    expect(await page.getByRole('status').textContent()).toContain('Showing only events involving Ben Okafor (bokafor, nurse)');
    await page.screenshot({ path: join(ARTIFACTS, 'audit-report-person-filter.png') });
    await page.getByRole('status').getByRole('link', { name: 'Show all' }).click();
    await expect.poll(() => visibleRows().count()).toBe(all);
    expect(problems).toEqual([]);
  });

  it('shows one type of event from the counts by type, and has a section per person', async () => {
    await page.locator('#types').getByRole('link', { name: 'Failed sign-in' }).click();
    const shown = await visibleRows().allTextContents();
    expect(shown).toHaveLength(7);
    for (const row of shown) expect(row).toMatch(/Failed (sign-in|enrollment)/);
    for (const name of ['Dr. Anna Smith (asmith, clinician)', 'Ben Okafor (bokafor, nurse)', 'Dr. Chidi Nwosu (cnwosu, clinician)', 'Dana Lee (dlee, compliance)', 'Administrator jdoe (relay command line)']) {
      expect(await page.locator('#people').getByRole('heading', { name, exact: true }).count(), name).toBe(1);
    }
    expect(problems).toEqual([]);
  });

  it('prints to a PDF of several pages', async () => {
    const pdf = await page.pdf({ format: 'A4', printBackground: true });
    writeFileSync(join(ARTIFACTS, 'audit-report.pdf'), pdf);
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    expect((pdf.toString('latin1').match(/\/Type\s*\/Page\b/g) ?? []).length).toBeGreaterThan(3);
  });
});

describe('the commands report.html gives for checking without rounds-audit', () => {
  const dir = useTempDirs();

  it('print the fingerprint the report shows, and check a signature over SHA256SUMS', () => {
    const folder = dir();
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(join(folder, 'signer.pub.pem'), publicKey.export({ format: 'pem', type: 'spki' }));
    writeFileSync(join(folder, 'key.pem'), privateKey.export({ format: 'pem', type: 'pkcs8' }));
    writeFileSync(join(folder, 'SHA256SUMS'), 'digests\n');
    const sh = (command: string) => execFileSync('sh', ['-c', command], { cwd: folder, encoding: 'utf8' });
    sh('openssl pkeyutl -sign -inkey key.pem -rawin -in SHA256SUMS -out SHA256SUMS.sig');
    const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url');
    const fingerprint = execFileSync('sha256sum', { input: raw, encoding: 'utf8' }).split(' ')[0];
    const html = new AuditReport(sampleReportInput()).render();
    const commands = /<pre>(sha256sum -c SHA256SUMS[\s\S]*?)<\/pre>/.exec(html)?.[1]?.split('\n') ?? [];
    expect(commands).toHaveLength(3);
    expect(sh(commands[1]!.replace('org-audit.pub.pem', 'signer.pub.pem'))).toMatch(/Signature Verified Successfully/);
    expect(sh(commands[2]!).split(' ')[0]).toBe(fingerprint);
    expect(readFileSync(join(folder, 'SHA256SUMS'), 'utf8')).toBe('digests\n');
  });
});
