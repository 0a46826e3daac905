import { describe, expect, it } from 'vitest';
import { newScimToken, parseScimTokenLifetimeDays, ScimTokenExpiryWarnings, scimTokenExpiry } from './scimTokens';

const DAY = 24 * 3600_000;
const NOW = Date.UTC(2026, 0, 10);

describe('SCIM token lifetimes', () => {
  it('takes whole days up to two years, and has no "never"', () => {
    expect(parseScimTokenLifetimeDays('365')).toBe(365);
    expect(parseScimTokenLifetimeDays('90d')).toBe(90);
    expect(() => parseScimTokenLifetimeDays('never')).toThrow(/always expire/);
    expect(() => parseScimTokenLifetimeDays('0')).toThrow(/always expire/);
    expect(() => parseScimTokenLifetimeDays('731')).toThrow(/1 to 730 days/);
    expect(() => parseScimTokenLifetimeDays('1y')).toThrow(/in days/);
    expect(scimTokenExpiry(NOW, 30)).toBe(NOW + 30 * DAY);
  });

  it('warns of each unrevoked token within 30 days of its end once a day, naming the token and never the secret', () => {
    const secret = newScimToken();
    const tokens = [
      { name: 'entra-prod', revokedAt: null, expiresAt: NOW + 10 * DAY },
      { name: 'okta', revokedAt: null, expiresAt: NOW + 90 * DAY },
      { name: 'old', revokedAt: NOW - DAY, expiresAt: NOW + DAY },
      { name: 'gone', revokedAt: null, expiresAt: NOW - DAY },
    ];
    const warnings = new ScimTokenExpiryWarnings();
    const first = warnings.due(tokens, NOW);
    expect(first).toEqual([expect.stringMatching(/^SCIM token gone expired at /), expect.stringMatching(/^SCIM token entra-prod expires at \S+ \(in 10 days\)/)]);
    expect(first.join('\n')).not.toContain(secret);
    expect(warnings.due(tokens, NOW + 3600_000)).toEqual([]);
    expect(warnings.due(tokens, NOW + DAY)).toHaveLength(2);
  });
});
