import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '../../../shared/policy';
import { PolicyError, loadPolicy, policyPath } from './loadPolicy';

describe('org policy file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rounds-policy-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (content: string) => {
    const path = join(dir, 'policy.json');
    writeFileSync(path, content);
    return path;
  };

  it('uses safe defaults when there is no file', () => {
    expect(loadPolicy(join(dir, 'missing.json'))).toEqual({ policy: DEFAULT_POLICY, source: null });
    expect(DEFAULT_POLICY).toMatchObject({ maxInactivityMinutes: 15, signOutAfterLockedHours: 12, notificationPreviews: false, contentProtection: true, retentionDays: null, wipeAfterFailedUnlocks: 10 });
  });

  it('reads every field, filling in the defaults for those left out', () => {
    const path = write('\uFEFF{ "relayUrl": "https://rounds.hospital.example", "maxInactivityMinutes": 5, "retentionDays": 365, "notificationPreviews": true }');
    const { policy, source } = loadPolicy(path);
    expect(source).toBe(path);
    expect(policy).toEqual({ ...DEFAULT_POLICY, relayUrl: 'https://rounds.hospital.example', maxInactivityMinutes: 5, retentionDays: 365, notificationPreviews: true });
  });

  it('stops with a message naming the field when the file is invalid', () => {
    const cases: [string, RegExp][] = [
      ['{ "maxInactivityMinutes": 600 }', /"maxInactivityMinutes"/],
      ['{ "maxInactivityMinutes": "15" }', /"maxInactivityMinutes"/],
      ['{ "relayUrl": "ftp://x" }', /"relayUrl"/],
      ['{ "wipeAfterFailedUnlocks": 1 }', /"wipeAfterFailedUnlocks"/],
      ['{ "maxInactivityMinute": 5 }', /unknown field "maxInactivityMinute"/],
      ['{ "retentionDays": 30, }', /is not JSON/],
      ['[]', /\(whole file\)/],
    ];
    for (const [content, reason] of cases) {
      const path = write(content);
      let error: unknown;
      try {
        loadPolicy(path);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(PolicyError);
      expect((error as Error).message).toContain(path);
      expect((error as Error).message).toMatch(reason);
    }
  });

  it('is read from the machine-wide location of each platform, or from the override variable', () => {
    expect(policyPath('linux', {})).toBe('/etc/rounds/policy.json');
    expect(policyPath('darwin', {})).toBe('/Library/Application Support/Rounds/policy.json');
    expect(policyPath('win32', { ProgramData: 'D:\\ProgramData' })).toBe(join('D:\\ProgramData', 'Rounds', 'policy.json'));
    expect(policyPath('linux', { ROUNDS_POLICY_FILE: '/tmp/test-policy.json' })).toBe('/tmp/test-policy.json');
  });
});
