import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '../../ConfigurationError';
import { useTempDirs } from '../../../test/fixtures/tempDirs';
import { OidcConfigSchema, readOidcClientSecret } from './OidcConfig';
import { isLoopbackRedirectUri } from './redirectUris';

const tempDir = useTempDirs();
const issue = (input: unknown) => {
  const parsed = OidcConfigSchema.safeParse(input);
  return parsed.success ? null : `${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`;
};

describe('the oidc section of the relay config', () => {
  it('fills in the defaults a hospital would want', () => {
    expect(OidcConfigSchema.parse({ issuer: 'https://login.microsoftonline.com/tenant-id/v2.0', clientId: 'app-id' })).toEqual({
      issuer: 'https://login.microsoftonline.com/tenant-id/v2.0', clientId: 'app-id', scopes: ['openid', 'profile', 'email'],
      usernameClaim: 'preferred_username', departmentClaim: 'department', requireMfa: false,
      mfaAmrValues: ['mfa', 'otp', 'hwk', 'swk', 'fido'], mfaAcrValues: [], harnessRedirectUris: [],
      reauthenticateAfterDays: 7, prompt: 'login', timeoutMs: 10_000, clockToleranceSeconds: 30, providerName: 'your hospital sign-in', createAccounts: false,
    });
  });

  it('refuses what would send tokens in clear, misspelt settings and an MFA policy nothing can meet', () => {
    expect(issue({ issuer: 'http://idp.hospital.example', clientId: 'a' })).toMatch(/^issuer: .*https/);
    expect(issue({ issuer: 'http://127.0.0.1:8080', clientId: 'a' })).toBeNull();
    expect(issue({ issuer: 'https://idp.hospital.example?x=1', clientId: 'a' })).toMatch(/^issuer/);
    expect(issue({ issuer: 'https://idp.hospital.example', clientId: '' })).toMatch(/^clientId/);
    expect(issue({ issuer: 'https://idp.hospital.example', clientId: 'a', usernameClaim: 'sub' })).toMatch(/^usernameClaim/);
    expect(issue({ issuer: 'https://idp.hospital.example', clientId: 'a', scopes: ['profile'] })).toMatch(/openid/);
    expect(issue({ issuer: 'https://idp.hospital.example', clientId: 'a', requireMFA: true })).toMatch(/requireMFA/);
    expect(issue({ issuer: 'https://idp.hospital.example', clientId: 'a', requireMfa: true, mfaAmrValues: [] })).toMatch(/mfaAmrValues or mfaAcrValues/);
    expect(issue({ issuer: 'https://idp.hospital.example', clientId: 'a', harnessRedirectUris: ['https://rounds.hospital.example/sso#x'] })).toMatch(/^harnessRedirectUris/);
  });

  it('reads the client secret from its file, and says which file is wrong', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'secret'), '  s3cret-value\n');
    expect(readOidcClientSecret(join(dir, 'secret'))).toBe('s3cret-value');
    writeFileSync(join(dir, 'empty'), '\n');
    expect(() => readOidcClientSecret(join(dir, 'empty'))).toThrow(ConfigurationError);
    expect(() => readOidcClientSecret(join(dir, 'missing'))).toThrow(/missing/);
  });
});

describe('loopback redirect URIs (RFC 8252)', () => {
  it('takes an IP literal with a port and a path, exactly as the browser will send it', () => {
    for (const uri of ['http://127.0.0.1:49152/callback', 'http://[::1]:5000/', 'http://127.0.0.1:5000/oauth/callback']) expect(isLoopbackRedirectUri(uri), uri).toBe(true);
    for (const uri of [
      'http://localhost:5000/callback', 'http://127.0.0.1:5000', 'http://127.0.0.1/callback', 'HTTP://127.0.0.1:5000/callback',
      'http://127.0.0.1:05000/callback', 'http://127.0.0.1:5000/a/./b', 'http://127.0.0.1:5000/%2e%2e/b', 'http://[0:0:0:0:0:0:0:1]:5000/x',
      `http://127.0.0.1:5000/${'a'.repeat(2100)}`,
    ]) expect(isLoopbackRedirectUri(uri), uri).toBe(false);
  });
});
