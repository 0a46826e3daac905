import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { failures, scan } from '../../scripts/electronegativity';

// `npm test` runs the check over the project itself (npm run security); here: that it bites.
describe('the electronegativity check in npm test', () => {
  it('fails an insecure window (context isolation and sandbox off, no navigation limits)', async () => {
    const failed = failures(await scan(['test/fixtures/lint/insecure-electron'], []));
    expect(failed.map((f) => f.id)).toEqual(expect.arrayContaining(['CONTEXT_ISOLATION_JS_CHECK', 'SANDBOX_JS_CHECK', 'LIMIT_NAVIGATION_GLOBAL_CHECK']));
  });

  it('accepts a finding only with a written reason, and only the one named', async () => {
    const config = JSON.parse(readFileSync('.electronegativity.json', 'utf8')) as { accepted: { check: string; reason: string }[] };
    for (const rule of config.accepted) expect(rule.reason.length).toBeGreaterThan(40);
    const failed = failures(await scan(['test/fixtures/lint/insecure-electron'], [{ check: 'SANDBOX_JS_CHECK', reason: 'test' }]));
    expect(failed.map((f) => f.id)).not.toContain('SANDBOX_JS_CHECK');
    expect(failed.map((f) => f.id)).toContain('CONTEXT_ISOLATION_JS_CHECK');
  });
});
