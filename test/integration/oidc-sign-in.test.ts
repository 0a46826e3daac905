import { createServer as createTcpServer, type Server } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { calculatePKCECodeChallenge, randomPKCECodeVerifier } from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OidcConfigSchema, readOidcClientSecret, type OidcConfigInput } from '../../server/auth/oidc/OidcConfig';
import { OidcRelyingParty, type OidcPendingSignIn } from '../../server/auth/oidc/OidcRelyingParty';
import { OidcSignInError, type OidcErrorCode } from '../../server/auth/oidc/OidcSignInError';
import { ProviderBrowser, startLoopbackReceiver, type Credentials, type LoopbackReceiver } from '../fixtures/oidcLogin';
import { newSigningKey, OIDC_LOGIN_FORM, startOidcProvider, type OidcTestUser, type TestOidcProvider } from '../fixtures/oidcProvider';
import { freePort } from '../fixtures/ports';
import { useTempDirs } from '../fixtures/tempDirs';

/*
 * The relay's relying party (server/auth/oidc) against a real OpenID provider (oidc-provider, in its own process
 * on loopback), signing in over HTTP as the user's browser would and landing on a loopback listener as the
 * desktop app's (RFC 8252). No side is mocked: what a user or an attacker would meet.
 */

const HARNESS_SECRET = 'harness-client-secret-0123456789abcdef';
const USERS = {
  alice: { username: 'asmith', password: 'alice-pw', displayName: 'Alice Smith', email: 'a.smith@hospital.example', upn: 'A.Smith@Hospital.Example', department: 'Cardiology', mfa: true },
  bob: { username: 'bjones', password: 'bob-pw', displayName: 'Bob Jones', email: 'b.jones@hospital.example', mfa: false },
  carol: { username: 'cnoamr', password: 'carol-pw', displayName: 'Carol No-Amr', amr: null },
  dan: { username: 'dacr', password: 'dan-pw', displayName: 'Dan Acr', acr: 'urn:hospital:loa:2fa', mfa: false },
  erin: { username: 'ewhite', password: 'erin-pw', displayName: 'Erin White', mfa: true },
} satisfies Record<string, OidcTestUser>;

let provider: TestOidcProvider;
let app: LoopbackReceiver;
let harness: LoopbackReceiver;
const tempDir = useTempDirs();

beforeAll(async () => {
  app = await startLoopbackReceiver('/callback');
  harness = await startLoopbackReceiver('/harness/sso');
  provider = await startOidcProvider({
    clients: [
      // The desktop app's registration: native, public, PKCE, loopback on any port.
      { client_id: 'rounds-desktop', application_type: 'native', redirect_uris: ['http://127.0.0.1/callback', 'http://[::1]/callback'], token_endpoint_auth_method: 'none' },
      // Another application at the same provider.
      { client_id: 'other-app', application_type: 'native', redirect_uris: ['http://127.0.0.1/callback'], token_endpoint_auth_method: 'none' },
      // The harness page's: a confidential web client with an exact redirect URI.
      { client_id: 'rounds-harness', client_secret: HARNESS_SECRET, application_type: 'web', redirect_uris: [harness.redirectUri] },
    ] as never,
    users: Object.values(USERS),
  });
});

afterAll(async () => {
  await provider?.stop();
  await app?.close();
  await harness?.close();
});

function relyingParty(overrides: Partial<OidcConfigInput> = {}, clientSecret?: string): OidcRelyingParty {
  const config = OidcConfigSchema.parse({ issuer: provider.issuer, clientId: 'rounds-desktop', ...overrides });
  return new OidcRelyingParty({ config, ...(clientSecret ? { clientSecret } : {}) });
}

/** The app's side of a sign-in up to the redirect: a PKCE pair, begin at the relay, the browser at the provider. */
async function reachRedirect(rp: OidcRelyingParty, user: Credentials, options: { browser?: ProviderBrowser; redirectUri?: string } = {}) {
  const codeVerifier = randomPKCECodeVerifier();
  const { authorizationUrl, pending } = await rp.begin({ redirectUri: options.redirectUri ?? app.redirectUri, codeChallenge: await calculatePKCECodeChallenge(codeVerifier) });
  const outcome = await (options.browser ?? new ProviderBrowser()).signIn(authorizationUrl, user);
  if (outcome.kind !== 'redirected') throw new Error(`sign-in refused at the provider: ${outcome.alert}`);
  return { authorizationUrl, pending, codeVerifier, response: { code: outcome.code, state: outcome.state, codeVerifier, ...(outcome.iss ? { iss: outcome.iss } : {}) } };
}

async function signIn(rp: OidcRelyingParty, user: Credentials) {
  const { pending, response } = await reachRedirect(rp, user);
  return rp.complete(pending, response);
}

async function refusal(promise: Promise<unknown>): Promise<OidcSignInError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(OidcSignInError);
  return error as OidcSignInError;
}

async function expectRefused(promise: Promise<unknown>, code: OidcErrorCode): Promise<OidcSignInError> {
  const error = await refusal(promise);
  expect(error.code, error.message).toBe(code);
  return error;
}

describe('signing in with the identity provider', () => {
  it('verifies who signed in and hands over their directory data, never a token', async () => {
    const rp = relyingParty();
    const before = Date.now();
    const { authorizationUrl, pending, response } = await reachRedirect(rp, USERS.alice);
    const request = new URL(authorizationUrl).searchParams;
    expect(Object.fromEntries(request)).toMatchObject({
      client_id: 'rounds-desktop', response_type: 'code', redirect_uri: app.redirectUri, scope: 'openid profile email',
      code_challenge: pending.codeChallenge, code_challenge_method: 'S256', state: pending.state, nonce: pending.nonce,
    });
    // The app's listener received the browser with the code, state and the provider's iss (RFC 9207).
    const landed = app.received.at(-1)!;
    expect(landed.searchParams.get('state')).toBe(pending.state);
    expect(landed.searchParams.get('iss')).toBe(provider.issuer);

    const identity = await rp.complete(pending, response);
    expect(identity).toEqual({
      issuer: provider.issuer, subject: expect.any(String), username: 'asmith', displayName: 'Alice Smith',
      email: 'a.smith@hospital.example', department: 'Cardiology', amr: ['pwd', 'mfa'], authTime: expect.any(Number),
    });
    expect(identity.authTime).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(JSON.stringify(identity)).not.toContain(response.code);
  });

  it('takes the username from the configured claim, lower-cased, and refuses a sign-in without it', async () => {
    expect((await signIn(relyingParty({ usernameClaim: 'upn' }), USERS.alice)).username).toBe('a.smith@hospital.example');
    expect((await signIn(relyingParty({ usernameClaim: 'email' }), USERS.bob)).username).toBe('b.jones@hospital.example');
    const error = await expectRefused(signIn(relyingParty({ usernameClaim: 'upn' }), USERS.bob), 'OIDC_USERNAME_MISSING');
    expect(error.message).toContain('upn');
    await provider.tamperIdTokens({ claims: { email_verified: false } });
    try {
      expect((await expectRefused(signIn(relyingParty({ usernameClaim: 'email' }), USERS.bob), 'OIDC_USERNAME_MISSING')).message).toContain('not verified');
      expect((await signIn(relyingParty(), USERS.bob)).username).toBe('bjones');
    } finally {
      await provider.tamperIdTokens(null);
    }
  });

  it('works from [::1] and from the harness page with a confidential client whose secret is in a file', async () => {
    const v6 = await startLoopbackReceiver('/callback', '::1');
    try {
      const { pending, response } = await reachRedirect(relyingParty(), USERS.bob, { redirectUri: v6.redirectUri });
      expect((await relyingParty().complete(pending, response)).username).toBe('bjones');
      expect(v6.received).toHaveLength(1);
    } finally {
      await v6.close();
    }
    const secretFile = join(tempDir(), 'client-secret');
    writeFileSync(secretFile, `${HARNESS_SECRET}\n`, { mode: 0o600 });
    const harnessParty = () => relyingParty({ clientId: 'rounds-harness', clientSecretFile: secretFile, harnessRedirectUris: [harness.redirectUri] }, readOidcClientSecret(secretFile));
    const { pending, response } = await reachRedirect(harnessParty(), USERS.bob, { redirectUri: harness.redirectUri });
    expect((await harnessParty().complete(pending, response)).username).toBe('bjones');

    const wrongSecret = relyingParty({ clientId: 'rounds-harness', clientSecretFile: secretFile, harnessRedirectUris: [harness.redirectUri] }, 'not-the-secret');
    const second = await reachRedirect(wrongSecret, USERS.bob, { redirectUri: harness.redirectUri });
    await expectRefused(wrongSecret.complete(second.pending, second.response), 'OIDC_PROVIDER_REFUSED');
  });
});

describe('what the relay refuses', () => {
  it('refuses a redirect URI that is not loopback (or a configured harness page) before the user goes anywhere', async () => {
    const rp = relyingParty({ harnessRedirectUris: [harness.redirectUri] });
    const codeChallenge = await calculatePKCECodeChallenge(randomPKCECodeVerifier());
    for (const redirectUri of [
      'https://attacker.example/callback', 'http://localhost:5000/callback', 'http://127.0.0.2:5000/callback',
      'http://127.0.0.1/callback', 'https://127.0.0.1:5000/callback', 'http://127.0.0.1:5000/callback?next=x',
      'http://127.0.0.1:5000/callback#x', 'http://user@127.0.0.1:5000/callback', 'http://127.0.0.1:5000/a/../b',
      'http://[::1]:5000/callback/%2e%2e', 'http://0x7f.1:5000/callback', 'javascript:alert(1)', '',
    ]) {
      const error = await expectRefused(rp.begin({ redirectUri, codeChallenge }), 'OIDC_REDIRECT_URI_REFUSED');
      expect(error.message).toContain('RFC 8252');
    }
    await expectRefused(rp.begin({ redirectUri: app.redirectUri, codeChallenge: 'plain-verifier' }), 'OIDC_REQUEST_INVALID');
    expect((await rp.begin({ redirectUri: harness.redirectUri, codeChallenge })).authorizationUrl).toContain(encodeURIComponent(harness.redirectUri));
  });

  it('refuses a response with another state, and the code is not spent by it', async () => {
    const rp = relyingParty();
    const { pending, response } = await reachRedirect(rp, USERS.bob);
    await expectRefused(rp.complete(pending, { ...response, state: `${response.state}x` }), 'OIDC_STATE_MISMATCH');
    const other = await rp.begin({ redirectUri: app.redirectUri, codeChallenge: pending.codeChallenge });
    await expectRefused(rp.complete(other.pending, response), 'OIDC_STATE_MISMATCH');
    expect((await rp.complete(pending, response)).username).toBe('bjones');
  });

  it('refuses a replayed code', async () => {
    const rp = relyingParty();
    const { pending, response } = await reachRedirect(rp, USERS.bob);
    expect((await rp.complete(pending, response)).username).toBe('bjones');
    const error = await expectRefused(rp.complete(pending, response), 'OIDC_CODE_REFUSED');
    expect(error.message).toContain('invalid_grant');
    expect(error.message).not.toContain(response.code);
  });

  it('refuses a PKCE verifier that is not the one the sign-in began with', async () => {
    const rp = relyingParty();
    const { pending, response } = await reachRedirect(rp, USERS.bob);
    await expectRefused(rp.complete(pending, { ...response, codeVerifier: randomPKCECodeVerifier() }), 'OIDC_CODE_REFUSED');
    await expectRefused(rp.complete(pending, { ...response, codeVerifier: 'short' }), 'OIDC_REQUEST_INVALID');
  });

  it('refuses a response without the iss parameter the provider sends, or naming another issuer (RFC 9207)', async () => {
    const rp = relyingParty();
    const { pending, response } = await reachRedirect(rp, USERS.bob);
    const { iss: _iss, ...withoutIss } = response;
    expect((await expectRefused(rp.complete(pending, withoutIss), 'OIDC_TOKEN_INVALID')).message).toContain('RFC 9207');
    expect((await expectRefused(rp.complete(pending, { ...response, iss: 'https://idp.attacker.example' }), 'OIDC_TOKEN_INVALID')).message).toContain('mix-up');
    expect((await rp.complete(pending, response)).username).toBe('bjones');
  });

  it('refuses a sign-in begun longer ago than it may take', async () => {
    let now = Date.now();
    const config = OidcConfigSchema.parse({ issuer: provider.issuer, clientId: 'rounds-desktop' });
    const rp = new OidcRelyingParty({ config, clock: { now: () => now }, pendingTtlMs: 60_000 });
    const { pending, response } = await reachRedirect(rp, USERS.bob);
    now += 61_000;
    await expectRefused(rp.complete(pending, response), 'OIDC_SIGN_IN_EXPIRED');
    await expectRefused(rp.complete({ ...pending, codeChallenge: 'x' } as OidcPendingSignIn, response), 'OIDC_REQUEST_INVALID');
  });
});

describe('the ID token', () => {
  it('still verifies after the provider rotates its signing key; one signed by the removed key is refused', async () => {
    const rp = relyingParty();
    const retired = newSigningKey();
    await provider.rotateSigningKey(retired);
    expect((await signIn(rp, USERS.bob)).username).toBe('bjones');
    const newKid = await provider.rotateSigningKey();
    const jwks = (await (await fetch(`${provider.issuer}/jwks`)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toEqual([newKid]);
    // The same relay, moments later: it fetches the provider's keys again and finds the new one.
    expect((await signIn(rp, USERS.bob)).username).toBe('bjones');

    await provider.tamperIdTokens({ signingKey: retired });
    try {
      const error = await expectRefused(signIn(rp, USERS.bob), 'OIDC_TOKEN_INVALID');
      expect(error.message).toMatch(/key/i);
    } finally {
      await provider.tamperIdTokens(null);
    }
  });

  it('refuses a token for another audience: a second client\'s, or a relay configured with the wrong client id', async () => {
    const rp = relyingParty();
    await provider.tamperIdTokens({ claims: { aud: 'other-app' } });
    try {
      await expectRefused(signIn(rp, USERS.bob), 'OIDC_TOKEN_INVALID');
    } finally {
      await provider.tamperIdTokens(null);
    }
    // A code issued to the desktop client, completed by a relay configured as another client.
    const { pending, response } = await reachRedirect(rp, USERS.bob);
    await expectRefused(relyingParty({ clientId: 'other-app' }).complete(pending, response), 'OIDC_CODE_REFUSED');
  });

  it('refuses a token from another issuer, expired, issued in the future, or for another nonce; tolerates small skew', async () => {
    const rp = relyingParty({ clockToleranceSeconds: 30 });
    const now = Math.floor(Date.now() / 1000);
    for (const claims of [
      { iss: 'https://idp.attacker.example' },
      { exp: now - 120, iat: now - 900 },
      { nonce: 'another-sign-in' },
      { nonce: null },
      { iat: now + 600, exp: now + 1200 },
    ]) {
      await provider.tamperIdTokens({ claims });
      try {
        await expectRefused(signIn(rp, USERS.bob), 'OIDC_TOKEN_INVALID');
      } finally {
        await provider.tamperIdTokens(null);
      }
    }
    await provider.tamperIdTokens({ claims: { exp: now - 10 } });
    try {
      expect((await signIn(rp, USERS.bob)).username).toBe('bjones');
    } finally {
      await provider.tamperIdTokens(null);
    }
  });
});

describe('multi-factor policy', () => {
  it('under requireMfa refuses a sign-in whose amr shows no second factor, or has no amr at all', async () => {
    const rp = relyingParty({ requireMfa: true });
    const error = await expectRefused(signIn(rp, USERS.bob), 'OIDC_MFA_REQUIRED');
    expect(error.message).toContain('amr pwd');
    expect((await expectRefused(signIn(rp, USERS.carol), 'OIDC_MFA_REQUIRED')).message).toContain('no amr');
    expect((await signIn(rp, USERS.alice)).amr).toContain('mfa');
    // Without the policy the same sign-ins pass, their amr reported as it is.
    expect((await signIn(relyingParty(), USERS.carol)).amr).toEqual([]);
  });

  it('accepts an acr the site counts as multi-factor', async () => {
    await expectRefused(signIn(relyingParty({ requireMfa: true }), USERS.dan), 'OIDC_MFA_REQUIRED');
    const identity = await signIn(relyingParty({ requireMfa: true, mfaAcrValues: ['urn:hospital:loa:2fa'] }), USERS.dan);
    expect(identity).toMatchObject({ username: 'dacr', acr: 'urn:hospital:loa:2fa', amr: ['pwd'] });
  });
});

describe('a user disabled at the provider', () => {
  it('asks for the login every time by default: a session the provider remembers in a shared browser signs nobody in', async () => {
    const rp = relyingParty();
    const browser = new ProviderBrowser();
    const first = await reachRedirect(rp, USERS.erin, { browser });
    expect((await rp.complete(first.pending, first.response)).username).toBe('ewhite');
    const { authorizationUrl } = await rp.begin({ redirectUri: app.redirectUri, codeChallenge: await calculatePKCECodeChallenge(randomPKCECodeVerifier()) });
    expect(new URL(authorizationUrl).searchParams.get('prompt')).toBe('login');
    // The next clinician at the same workstation gets the form, and signs in as herself.
    const next = await reachRedirect(rp, USERS.alice, { browser });
    expect(browser.loginPagesShown).toBe(2);
    expect((await rp.complete(next.pending, next.response)).username).toBe('asmith');
  });

  it('cannot sign in, cannot complete a sign-in begun before, and their provider session no longer signs them in', async () => {
    // Where the site lets the provider decide (prompt: none), its session would sign her in again without the form.
    const rp = relyingParty({ prompt: 'none' });
    const browser = new ProviderBrowser();
    const first = await reachRedirect(rp, USERS.erin, { browser });
    expect((await rp.complete(first.pending, first.response)).username).toBe('ewhite');
    const silent = await reachRedirect(rp, USERS.erin, { browser });
    expect(browser.loginPagesShown).toBe(1);

    await provider.setUserDisabled(USERS.erin.username, true);
    try {
      // The code she got before being disabled is refused at the exchange.
      await expectRefused(rp.complete(silent.pending, silent.response), 'OIDC_CODE_REFUSED');
      // Her session no longer counts: the login form again, and it refuses her.
      const codeChallenge = await calculatePKCECodeChallenge(randomPKCECodeVerifier());
      const { authorizationUrl } = await rp.begin({ redirectUri: app.redirectUri, codeChallenge });
      const outcome = await browser.signIn(authorizationUrl, USERS.erin);
      expect(outcome).toEqual({ kind: 'refused', status: 403, alert: 'This account is disabled.' });
      expect(browser.loginPagesShown).toBe(2);
    } finally {
      await provider.setUserDisabled(USERS.erin.username, false);
    }
    expect((await signIn(rp, USERS.erin)).username).toBe('ewhite');
  });

  it('the provider\'s login page has the labelled fields and button a browser test drives', async () => {
    const { authorizationUrl } = await relyingParty().begin({ redirectUri: app.redirectUri, codeChallenge: await calculatePKCECodeChallenge(randomPKCECodeVerifier()) });
    const toInteraction = await fetch(authorizationUrl, { redirect: 'manual' });
    expect(toInteraction.status).toBe(303);
    const cookie = toInteraction.headers.getSetCookie().map((line) => line.split(';')[0]).join('; ');
    const page = await (await fetch(new URL(toInteraction.headers.get('location')!, provider.issuer), { headers: { cookie } })).text();
    expect(page).toContain(`<label for="username">${OIDC_LOGIN_FORM.username}</label> <input id="username" name="username"`);
    expect(page).toContain(`<label for="password">${OIDC_LOGIN_FORM.password}</label> <input id="password" name="password" type="password"`);
    expect(page).toContain(`<button type="submit">${OIDC_LOGIN_FORM.submit}</button>`);
    expect(page).toContain(`<h1>${OIDC_LOGIN_FORM.heading}</h1>`);
  });

  it('a wrong password is refused on the provider\'s page', async () => {
    const { authorizationUrl } = await relyingParty().begin({ redirectUri: app.redirectUri, codeChallenge: await calculatePKCECodeChallenge(randomPKCECodeVerifier()) });
    expect(await new ProviderBrowser().signIn(authorizationUrl, { username: 'asmith', password: 'wrong' })).toEqual({ kind: 'refused', status: 401, alert: 'Wrong username or password.' });
  });
});

describe('an unreachable provider', () => {
  it('is reported as such, and discovered once it answers', async () => {
    const port = await freePort();
    const config = OidcConfigSchema.parse({ issuer: `http://127.0.0.1:${port}`, clientId: 'rounds-desktop' });
    const rp = new OidcRelyingParty({ config });
    const codeChallenge = await calculatePKCECodeChallenge(randomPKCECodeVerifier());
    const error = await expectRefused(rp.begin({ redirectUri: app.redirectUri, codeChallenge }), 'OIDC_PROVIDER_UNREACHABLE');
    expect(error.message).toContain('ECONNREFUSED');
    const late = await startOidcProvider({ port, clients: [{ client_id: 'rounds-desktop', application_type: 'native', redirect_uris: ['http://127.0.0.1/callback'], token_endpoint_auth_method: 'none' } as never], users: [USERS.bob] });
    try {
      expect((await signIn(rp, USERS.bob)).username).toBe('bjones');
    } finally {
      await late.stop();
    }
  });

  it('that accepts connections and never answers times out', async () => {
    const silent: Server = createTcpServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as { port: number };
      const rp = new OidcRelyingParty({ config: OidcConfigSchema.parse({ issuer: `http://127.0.0.1:${port}`, clientId: 'x', timeoutMs: 1000 }) });
      const started = Date.now();
      const error = await expectRefused(rp.begin({ redirectUri: app.redirectUri, codeChallenge: await calculatePKCECodeChallenge(randomPKCECodeVerifier()) }), 'OIDC_PROVIDER_UNREACHABLE');
      expect(error.message).toContain('in time');
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      silent.close();
    }
  });
});
