import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SystemBrowserDoor, type OpenExternal } from '../../main/core/auth/SsoRedirectDoor';
import { LocalProfiles } from '../../main/core/storage/LocalProfiles';
import { OidcConfigSchema } from '../../server/auth/oidc/OidcConfig';
import { DEFAULT_ARGON2 } from '../../server/auth/argon2Params';
import { DEFAULT_CONFIG } from '../../server/RelayConfig';
import { RelayServer } from '../../server/RelayServer';
import { openStore } from '../../server/openStore';
import { ProviderBrowser, type Credentials } from '../fixtures/oidcLogin';
import { startOidcProvider, type TestOidcProvider } from '../fixtures/oidcProvider';
import { useTempDirs } from '../fixtures/tempDirs';
import { PASSPHRASE, Workstation, until } from '../fixtures/workstation';

/*
 * The desktop app's sign-in with the hospital's identity provider (issue 18), through the UI contract of a real
 * core: its real loopback listener (LoopbackRedirect, RFC 8252), a real relay with an `oidc` section and a real
 * OpenID provider. Only the system browser is played by the test: `openExternal` hands the URL to a browser
 * that signs in at the provider over HTTP and follows its redirect back to the app's listener.
 */

const USERS = {
  jo: { username: 'j.smith@hospital.example', password: 'jo-provider-pw', displayName: 'Dr. Jo Smith', mfa: true },
  stranger: { username: 'n.new@hospital.example', password: 'new-provider-pw', displayName: 'Nia New', mfa: true },
};
const tempDir = useTempDirs();
let provider: TestOidcProvider;
let relay: RelayServer;
let relayUrl: string;

beforeAll(async () => {
  provider = await startOidcProvider({
    clients: [{ client_id: 'rounds', application_type: 'native', redirect_uris: ['http://127.0.0.1/callback'], token_endpoint_auth_method: 'none' }] as never,
    users: Object.values(USERS),
  });
  const oidc = OidcConfigSchema.parse({ issuer: provider.issuer, clientId: 'rounds', providerName: 'Test Hospital', requireMfa: true });
  relay = new RelayServer(openStore(tempDir()), { ...DEFAULT_CONFIG, argon2: { ...DEFAULT_ARGON2, memoryKiB: 8192 }, oidc }, undefined, () => undefined);
  relayUrl = await relay.listen({ host: '127.0.0.1', port: 0 }, 'silent');
  await relay.accounts.addUser(USERS.jo.username, USERS.jo.displayName, 'clinician');
}, 60_000);

afterAll(async () => {
  await relay?.close();
  await provider?.stop();
});

/** The system browser, as the test plays it: each URL the app opens is signed in at the provider as `user`. */
function systemBrowser(user: Credentials | null, opened: string[] = []): OpenExternal {
  const browser = new ProviderBrowser();
  return async (url) => {
    opened.push(url);
    // The browser goes on by itself; opening it is all the app waits for.
    if (user) void browser.signIn(url, user);
  };
}

function workstation(openExternal: OpenExternal, timeoutMs?: number): Workstation {
  return new Workstation(tempDir(), { ssoDoor: new SystemBrowserDoor(openExternal, timeoutMs === undefined ? {} : { timeoutMs }) });
}

describe('sign-in with the identity provider in the system browser', () => {
  it('offers the provider by name, and only where the relay has one', async () => {
    const ws = workstation(systemBrowser(null));
    await expect(ws.call('sso.provider', { relayUrl })).resolves.toEqual({ providerName: 'Test Hospital' });
    const plain = new RelayServer(openStore(tempDir()), DEFAULT_CONFIG, undefined, () => undefined);
    try {
      const plainUrl = await plain.listen({ host: '127.0.0.1', port: 0 }, 'silent');
      await expect(ws.call('sso.provider', { relayUrl: plainUrl })).resolves.toEqual({ providerName: null });
    } finally {
      await plain.close();
    }
    // A door without a browser (the harness before it is set up) offers nothing.
    await expect(new Workstation(tempDir()).call('sso.provider', { relayUrl })).resolves.toEqual({ providerName: null });
  });

  it('enrolls a pending account, then adds a second workstation, each a profile under its passphrase', async () => {
    const opened: string[] = [];
    const ward = workstation(systemBrowser(USERS.jo, opened));
    const started = await ward.call('sso.begin', { relayUrl, passphrase: PASSPHRASE, deviceName: 'Ward 4' });
    expect(started.opens).toBe('systemBrowser');
    expect(opened).toEqual([started.authorizationUrl]);
    // The loopback redirect URI the relay was given: 127.0.0.1, a port of this sign-in, the registered path.
    expect(new URL(started.authorizationUrl).searchParams.get('redirect_uri')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    const finished = await ward.call('sso.finish', { signInId: started.signInId });
    expect(finished).toMatchObject({ waited: true, state: { phase: 'unlocked', profile: { username: USERS.jo.username, displayName: USERS.jo.displayName } } });
    await until(() => ward.online(), 'the first workstation to connect');

    const theatre = workstation(systemBrowser(USERS.jo));
    await theatre.call('sso.begin', { relayUrl, passphrase: PASSPHRASE, deviceName: 'Theatre 2' });
    await expect(theatre.call('sso.finish', {})).resolves.toMatchObject({ waited: true, state: { phase: 'unlocked' } });
    expect((await theatre.call('account.devices', {})).map((d) => d.name).sort()).toEqual(['Theatre 2', 'Ward 4']);
    // The profile opens with the passphrase chosen before the browser went out.
    await theatre.restart();
    expect(new LocalProfiles(theatre.dataDir).list()).toHaveLength(1);

    // The workstation signs in at the provider again (as the relay asks every few days): a new credential, still online.
    const again = await ward.call('sso.signInAgain', {});
    await expect(ward.call('sso.finish', { signInId: again.signInId })).resolves.toMatchObject({ waited: true, state: { phase: 'unlocked' } });
    await until(() => ward.online(), 'the first workstation to connect again');
    expect(await ward.call('account.devices', {})).toHaveLength(2);
    await ward.app.close();
    await theatre.app.close();
  }, 60_000);

  it('after the sign-out period, unlocks with the passphrase and a sign-in at the provider, not a password', async () => {
    const door = new SystemBrowserDoor(systemBrowser(USERS.jo));
    const first = new Workstation(tempDir(), { ssoDoor: door });
    await first.call('sso.begin', { relayUrl, passphrase: PASSPHRASE, deviceName: 'Clinic 3' });
    await first.call('sso.finish', {});
    await first.app.close();
    // Locked longer than the policy allows: the next start wants a full sign-in.
    const profiles = new LocalProfiles(first.dataDir);
    const [profile] = profiles.list();
    profiles.setSignInRequired(profile!.id, true);
    const ws = new Workstation(first.dataDir, { ssoDoor: door });
    expect(await ws.call('session.state', {})).toMatchObject({ phase: 'locked', signInRequired: true });
    expect((await ws.fails('profile.unlock', { profileId: profile!.id, passphrase: PASSPHRASE })).code).toBe('SIGN_IN_REQUIRED');
    expect((await ws.fails('profile.signIn', { profileId: profile!.id, passphrase: PASSPHRASE, password: 'correct horse battery staple 7', totpCode: '123456' })).code).toBe('SSO_REQUIRED');
    expect((await ws.fails('sso.unlock', { profileId: profile!.id, passphrase: 'not the passphrase at all' })).code).toBe('WRONG_PASSPHRASE');
    const started = await ws.call('sso.unlock', { profileId: profile!.id, passphrase: PASSPHRASE });
    await expect(ws.call('sso.finish', { signInId: started.signInId })).resolves.toMatchObject({ waited: true, state: { phase: 'unlocked' } });
    await until(() => ws.online(), 'the workstation to connect');
    expect(new LocalProfiles(ws.dataDir).signInRequired(profile!.id, Date.now(), 3600_000)).toBe(false);
    await ws.app.close();
  }, 60_000);

  it('refuses a person without an account, leaving no profile behind', async () => {
    const ws = workstation(systemBrowser(USERS.stranger));
    await ws.call('sso.begin', { relayUrl, passphrase: PASSPHRASE, deviceName: 'Ward 9' });
    expect((await ws.fails('sso.finish', {})).code).toBe('ACCOUNT_NOT_PROVISIONED');
    expect(await ws.call('session.state', {})).toEqual({ phase: 'signedOut', profiles: [] });
    // Told once: nothing left to wait for.
    await expect(ws.call('sso.finish', {})).resolves.toMatchObject({ waited: false });
  });

  it('checks the passphrase before sending anyone out, and ends a sign-in cancelled or not finished in time', async () => {
    const opened: string[] = [];
    const ws = workstation(systemBrowser(null, opened), 500);
    expect((await ws.fails('sso.begin', { relayUrl, passphrase: 'short', deviceName: 'Ward 9' })).code).toBe('PASSPHRASE_POLICY');
    expect(opened).toEqual([]);

    await ws.call('sso.begin', { relayUrl, passphrase: PASSPHRASE, deviceName: 'Ward 9' });
    expect((await ws.fails('sso.finish', {})).code).toBe('SSO_TIMED_OUT');

    const started = await ws.call('sso.begin', { relayUrl, passphrase: PASSPHRASE, deviceName: 'Ward 9' });
    const waiting = ws.fails('sso.finish', { signInId: started.signInId });
    await ws.call('sso.cancel', {});
    expect((await waiting).code).toBe('SSO_CANCELLED');
    // The listener is gone: a browser that comes back late finds nothing.
    const redirectUri = new URL(started.authorizationUrl).searchParams.get('redirect_uri')!;
    await expect(fetch(redirectUri).then(() => 'answered', () => 'refused')).resolves.toBe('refused');
  });
});

describe('a workstation the relay asks to sign in at the provider again', () => {
  let now = Date.now();
  let clocked: RelayServer;
  let clockedUrl: string;
  beforeAll(async () => {
    const clock = { now: () => now };
    const oidc = OidcConfigSchema.parse({ issuer: provider.issuer, clientId: 'rounds', reauthenticateAfterDays: 2 });
    clocked = new RelayServer(openStore(tempDir(), clock), { ...DEFAULT_CONFIG, argon2: { ...DEFAULT_ARGON2, memoryKiB: 8192 }, oidc }, clock, () => undefined);
    clockedUrl = await clocked.listen({ host: '127.0.0.1', port: 0 }, 'silent');
    await clocked.accounts.addUser(USERS.jo.username, USERS.jo.displayName, 'clinician');
  });
  afterAll(async () => {
    await clocked?.close();
  });

  it('says so on its connection, and is back online after signing in there again', async () => {
    const ws = workstation(systemBrowser(USERS.jo));
    await ws.call('sso.begin', { relayUrl: clockedUrl, passphrase: PASSPHRASE, deviceName: 'Ward 4' });
    await ws.call('sso.finish', {});
    await until(() => ws.online(), 'the workstation to connect');
    now += 2 * 24 * 3600_000 + 60_000;
    // The next connection (after a lock, a restart or a dropped network) is refused until she signs in again.
    await ws.restart();
    await until(() => ws.events.some((e) => e.type === 'connection' && e.state === 'signInAgain'), 'the app to be told to sign in again');
    expect(await ws.online()).toBe(false);
    const again = await ws.call('sso.signInAgain', {});
    await expect(ws.call('sso.finish', { signInId: again.signInId })).resolves.toMatchObject({ waited: true, state: { phase: 'unlocked' } });
    await until(() => ws.online(), 'the workstation to connect again');
    await ws.app.close();
  }, 60_000);
});
