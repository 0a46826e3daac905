import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { calculatePKCECodeChallenge, randomPKCECodeVerifier } from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryProtocolStorage } from '../../main/core/crypto/InMemoryProtocolStorage';
import { ProtocolCore } from '../../main/core/crypto/ProtocolCore';
import { RelayClient, RelayRequestError } from '../../main/core/messaging/RelayClient';
import { OidcConfigSchema, type OidcConfigInput } from '../../server/auth/oidc/OidcConfig';
import { DEFAULT_CONFIG } from '../../server/RelayConfig';
import { DEFAULT_ARGON2 } from '../../server/auth/argon2Params';
import { RelayServer } from '../../server/RelayServer';
import { openStore } from '../../server/openStore';
import type { DeviceId, EnvelopeId } from '../../shared/ids';
import type { SessionResponse } from '../../shared/wire/relay';
import type { SsoCompleteRequest } from '../../shared/wire/sso';
import { ProviderBrowser, startLoopbackReceiver, type Credentials, type LoopbackReceiver } from '../fixtures/oidcLogin';
import { startOidcProvider, type OidcTestUser, type TestOidcProvider } from '../fixtures/oidcProvider';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../fixtures/postgres';
import { Clinician, RelayProcess, addUser, adminCli, openRelayDatabase, removeDir, tempDataDir } from '../fixtures/relayProcess';
import { until } from '../fixtures/workstation';

/*
 * Issue 18: enrollment and new workstations through the hospital's identity provider, end to end: a real
 * OpenID provider (oidc-provider, its own process on loopback), its login page driven over HTTP as the user's
 * browser would, a loopback listener like the desktop app's (RFC 8252), and real relay processes (SQLite, and
 * two sharing PostgreSQL). What a clinician, an administrator or an attacker would meet.
 */

const PROVIDER_NAME = 'Test Hospital sign-in';
const USERS = {
  jo: { username: 'j.smith@hospital.example', password: 'jo-pw', displayName: 'Jo Smith', department: 'Cardiology', mfa: true },
  bob: { username: 'b.jones@hospital.example', password: 'bob-pw', displayName: 'Bob Jones', mfa: false },
  newcomer: { username: 'n.new@hospital.example', password: 'new-pw', displayName: 'Nia New', department: 'Oncology', mfa: true },
  gone: { username: 'g.gone@hospital.example', password: 'gone-pw', displayName: 'Gil Gone', mfa: true },
  leaver: { username: 'l.leaver@hospital.example', password: 'leaver-pw', displayName: 'Lee Leaver', mfa: true },
  replay: { username: 'r.replay@hospital.example', password: 'replay-pw', displayName: 'Ray Replay', mfa: true },
  window: { username: 'w.window@hospital.example', password: 'window-pw', displayName: 'Win Window', mfa: true },
  passwordFirst: { username: 'p.first@hospital.example', password: 'pat-idp-pw', displayName: 'Pat First', department: 'Neurology', mfa: true },
  fromScim: { username: 's.scim@hospital.example', password: 'scim-pw', displayName: 'Sam Scim', department: 'Radiology', mfa: true },
  // Someone at the provider given the username of the relay's own compliance account.
  officer: { username: 'privacy.officer@hospital.example', password: 'officer-idp-pw', displayName: 'Whoever The Provider Says', mfa: true },
} satisfies Record<string, OidcTestUser>;

let provider: TestOidcProvider;
let app: LoopbackReceiver;
const dirs: string[] = [];
const relays: RelayProcess[] = [];

beforeAll(async () => {
  app = await startLoopbackReceiver('/callback');
  provider = await startOidcProvider({
    // The desktop app's registration: native, public (PKCE only), loopback on any port.
    clients: [{ client_id: 'rounds-desktop', application_type: 'native', redirect_uris: ['http://127.0.0.1/callback'], token_endpoint_auth_method: 'none' }] as never,
    users: Object.values(USERS),
  });
}, 60_000);

afterAll(async () => {
  for (const relay of relays) await relay.stop();
  for (const dir of dirs) removeDir(dir);
  await provider?.stop();
  await app?.close();
});

function dataDir(): string {
  const dir = tempDataDir();
  dirs.push(dir);
  return dir;
}

/** A relay process whose config file has this `oidc` section (and `extra` command-line options). */
async function relayWith(oidc: Partial<OidcConfigInput>, extra: readonly string[] = [], dir = dataDir()): Promise<RelayProcess> {
  const file = join(dataDir(), 'relay.json');
  writeFileSync(file, JSON.stringify({ oidc: { issuer: provider.issuer, clientId: 'rounds-desktop', providerName: PROVIDER_NAME, ...oidc } }));
  const relay = await RelayProcess.start(dir, ['--config', file, ...extra]);
  relays.push(relay);
  return relay;
}

async function newDevice(name: string) {
  const keys = await ProtocolCore.createDevice(new InMemoryProtocolStorage(), null, { keyBundlePolicy: { batchSize: 2 } }).keys.initialUpload();
  return { kind: 'new' as const, name, keys };
}
const existing = (deviceId: DeviceId) => ({ kind: 'existing' as const, deviceId });

/**
 * The app's side up to the redirect: a PKCE pair, begin at `beginAt`, the browser at the provider's login page,
 * back on the loopback listener. `complete` sends what the listener received (with overrides) to `completeAt`.
 */
async function reachRedirect(beginAt: string, user: Credentials, options: { browser?: ProviderBrowser } = {}) {
  const codeVerifier = randomPKCECodeVerifier();
  const begun = await new RelayClient(beginAt).ssoBegin({ redirectUri: app.redirectUri, codeChallenge: await calculatePKCECodeChallenge(codeVerifier) });
  const outcome = await (options.browser ?? new ProviderBrowser()).signIn(begun.authorizationUrl, user);
  if (outcome.kind !== 'redirected') throw new Error(`sign-in refused at the provider: ${outcome.alert}`);
  // The app compares the state before it goes on (a redirect from another sign-in is dropped there).
  expect(outcome.state).toBe(begun.state);
  const response = { state: outcome.state, code: outcome.code, codeVerifier, ...(outcome.iss ? { iss: outcome.iss } : {}) };
  return {
    response,
    complete: (completeAt: string, device: SsoCompleteRequest['device'], overrides: Partial<SsoCompleteRequest> = {}) => new RelayClient(completeAt).ssoComplete({ ...response, device, ...overrides }),
  };
}

async function ssoSignIn(url: string, user: Credentials, device: SsoCompleteRequest['device']): Promise<SessionResponse> {
  return (await reachRedirect(url, user)).complete(url, device);
}

/** The relay's refusal of `promise`: its code, HTTP status and message. */
async function refusal(promise: Promise<unknown>): Promise<{ code: string; status: number; message: string }> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error, 'the relay should have refused').toBeInstanceOf(RelayRequestError);
  const { code, status, message } = error as RelayRequestError;
  return { code, status, message };
}

const signedInAs = (url: string, session: SessionResponse) => new RelayClient(url, session.credential);

/** The details of the relay's audit records of these types, in order (read from its database, as an auditor could). */
function auditDetails(dataDir: string, ...types: string[]): [string, Record<string, unknown>][] {
  const db = openRelayDatabase(dataDir);
  try {
    const rows = db.prepare(`SELECT type, details FROM audit_log WHERE type IN (${types.map(() => '?').join(', ')}) ORDER BY seq`).all(types) as { type: string; details: string }[];
    return rows.map((r) => [r.type, JSON.parse(r.details) as Record<string, unknown>]);
  } finally {
    db.close();
  }
}

describe('single sign-on at a relay (SQLite, MFA required)', () => {
  let relay: RelayProcess;
  beforeAll(async () => {
    relay = await relayWith({ requireMfa: true });
  }, 60_000);

  it('enrolls a pending account through the provider and adds a second workstation, asking for no password or TOTP', async () => {
    addUser(relay.dataDir, USERS.jo.username, 'Jo Smith');
    const first = await ssoSignIn(relay.url, USERS.jo, await newDevice('Ward 4 workstation'));
    expect(first).toMatchObject({ role: 'clinician', displayName: 'Jo Smith', username: USERS.jo.username, expiresAt: null });
    const second = await ssoSignIn(relay.url, USERS.jo, await newDevice('Theatre 2 workstation'));
    expect(second.userId).toBe(first.userId);
    expect(second.deviceId).not.toBe(first.deviceId);
    expect((await signedInAs(relay.url, first).ownDevices()).devices.map((d) => d.name).sort()).toEqual(['Theatre 2 workstation', 'Ward 4 workstation']);
    // The account took the provider's department, and colleagues see her as reachable.
    const directory = await signedInAs(relay.url, second).directory();
    expect(directory.users.find((u) => u.userId === first.userId)).toMatchObject({ department: 'Cardiology', status: 'active', devices: expect.arrayContaining([first.deviceId, second.deviceId]) });

    // The first workstation signs in again at the provider: a new credential, and the old one stops working.
    const again = await ssoSignIn(relay.url, USERS.jo, existing(first.deviceId));
    expect(again).toMatchObject({ userId: first.userId, deviceId: first.deviceId });
    expect((await refusal(signedInAs(relay.url, first).ownDevices())).code).toBe('UNAUTHENTICATED');
    expect((await signedInAs(relay.url, again).ownDevices()).devices).toHaveLength(2);
    // A workstation she does not have cannot be signed in again.
    expect(await refusal(ssoSignIn(relay.url, USERS.jo, existing(99 as DeviceId)))).toMatchObject({ code: 'UNKNOWN_DEVICE', status: 409 });

    // Her account signs in with the provider only. The password path tells a stranger nothing more than for any
    // wrong sign-in (which usernames sign in with the provider is not theirs to learn)...
    const stranger = await refusal(new RelayClient(relay.url).login(USERS.jo.username, 'any-password', '123456', await newDevice('Kiosk')));
    expect(stranger).toMatchObject({ code: 'INVALID_CREDENTIALS', status: 401 });
    const unknown = await refusal(new RelayClient(relay.url).login('nobody.here@hospital.example', 'any-password', '123456', await newDevice('Kiosk')));
    expect(unknown).toMatchObject({ code: stranger.code, status: stranger.status, message: stranger.message });
    // ...and her own workstation, proven by its credential, is told to use the provider.
    const password = await refusal(signedInAs(relay.url, again).login(USERS.jo.username, 'any-password', '123456', { kind: 'existing', deviceId: again.deviceId }));
    expect(password).toMatchObject({ code: 'SSO_REQUIRED', status: 403 });
    expect(password.message).toContain(PROVIDER_NAME);

    // Audited as sign-ins by single sign-on: the enrollment, each new workstation and the renewed one.
    expect(auditDetails(relay.dataDir, 'account.enrolled', 'login.success', 'device.enrolled').map(([type, details]) => [type, details['method']])).toEqual([
      ['account.enrolled', 'sso'], ['login.success', 'sso'], ['device.enrolled', 'sso'], ['login.success', 'sso'], ['device.enrolled', 'sso'], ['login.success', 'sso'],
    ]);
  });

  it('refuses a sign-in without multi-factor at the provider, and the account stays as it was', async () => {
    addUser(relay.dataDir, USERS.bob.username, 'Bob Jones');
    const refused = await refusal(ssoSignIn(relay.url, USERS.bob, await newDevice('Ward 5')));
    expect(refused).toMatchObject({ code: 'OIDC_MFA_REQUIRED', status: 403 });
    expect(refused.message).toMatch(/multi-factor/);
    expect(adminCli(['user', 'list', '--data', relay.dataDir]).stdout).toMatch(new RegExp(`${USERS.bob.username}\\t.*\\tpending`));
    // Audited with why the relay refused.
    expect(auditDetails(relay.dataDir, 'login.failure').map(([, details]) => details)).toContainEqual({ method: 'sso', reason: 'OIDC_MFA_REQUIRED', count: 1 });
  });

  it('refuses a person without an account here, and an account an administrator deactivated', async () => {
    const unknown = await refusal(ssoSignIn(relay.url, USERS.newcomer, await newDevice('Ward 6')));
    expect(unknown).toMatchObject({ code: 'ACCOUNT_NOT_PROVISIONED', status: 403 });
    expect(unknown.message).toContain(USERS.newcomer.username);
    expect(auditDetails(relay.dataDir, 'login.failure').map(([, details]) => details)).toContainEqual({ method: 'sso', reason: 'ACCOUNT_NOT_PROVISIONED', count: 1, username: USERS.newcomer.username });

    addUser(relay.dataDir, USERS.gone.username, 'Gil Gone');
    const session = await ssoSignIn(relay.url, USERS.gone, await newDevice('Ward 7'));
    expect(adminCli(['user', 'deactivate', '--data', relay.dataDir, USERS.gone.username]).status).toBe(0);
    expect(await refusal(ssoSignIn(relay.url, USERS.gone, await newDevice('Ward 7 again')))).toMatchObject({ code: 'ACCOUNT_INACTIVE', status: 403 });
    expect((await refusal(signedInAs(relay.url, session).ownDevices())).code).toMatch(/UNAUTHENTICATED|ACCOUNT_INACTIVE/);
  });

  it('cuts off a user disabled at the provider: her login is refused there, and a code she got before does not work', async () => {
    addUser(relay.dataDir, USERS.leaver.username, 'Lee Leaver');
    await ssoSignIn(relay.url, USERS.leaver, await newDevice('Ward 8'));
    const beforeDisabling = await reachRedirect(relay.url, USERS.leaver);
    await provider.setUserDisabled(USERS.leaver.username, true);
    try {
      expect(await refusal(beforeDisabling.complete(relay.url, await newDevice('Ward 8 again')))).toMatchObject({ code: 'OIDC_CODE_REFUSED', status: 401 });
      const codeVerifier = randomPKCECodeVerifier();
      const begun = await new RelayClient(relay.url).ssoBegin({ redirectUri: app.redirectUri, codeChallenge: await calculatePKCECodeChallenge(codeVerifier) });
      expect(await new ProviderBrowser().signIn(begun.authorizationUrl, USERS.leaver)).toMatchObject({ kind: 'refused', alert: 'This account is disabled.' });
    } finally {
      await provider.setUserDisabled(USERS.leaver.username, false);
    }
  });

  it('refuses a replayed state or code and a code with another verifier, each once and for all', async () => {
    addUser(relay.dataDir, USERS.replay.username, 'Ray Replay');
    const browser = new ProviderBrowser();
    const signedIn = await reachRedirect(relay.url, USERS.replay, { browser });
    await signedIn.complete(relay.url, await newDevice('Ward 9'));
    // The same redirect again (a second request, or someone who saw it): the relay has used that sign-in up.
    expect(await refusal(signedIn.complete(relay.url, await newDevice('Ward 9 again')))).toMatchObject({ code: 'OIDC_SIGN_IN_EXPIRED', status: 401 });

    // The used code under a fresh sign-in with the same verifier: the provider refuses it.
    const fresh = await reachRedirect(relay.url, USERS.replay, { browser });
    expect(await refusal(fresh.complete(relay.url, await newDevice('Ward 9 stolen'), { code: signedIn.response.code, codeVerifier: signedIn.response.codeVerifier })))
      .toMatchObject({ code: 'OIDC_CODE_REFUSED', status: 401 });

    // A code that leaked from the browser, brought by someone without the app's verifier.
    const leaked = await reachRedirect(relay.url, USERS.replay, { browser });
    expect(await refusal(leaked.complete(relay.url, await newDevice('Ward 9 thief'), { codeVerifier: randomPKCECodeVerifier() }))).toMatchObject({ code: 'OIDC_CODE_REFUSED', status: 401 });
    // ...and the app itself cannot use that sign-in afterwards either (it was taken): it starts again.
    expect((await refusal(leaked.complete(relay.url, await newDevice('Ward 9 late')))).code).toBe('OIDC_SIGN_IN_EXPIRED');

    // Malformed requests are told apart before anything is stored or sent to the provider.
    expect(await refusal(new RelayClient(relay.url).ssoBegin({ redirectUri: 'https://attacker.example/callback', codeChallenge: 'a'.repeat(43) }))).toMatchObject({ code: 'OIDC_REDIRECT_URI_REFUSED', status: 400 });
    expect((await refusal(new RelayClient(relay.url).ssoBegin({ redirectUri: app.redirectUri, codeChallenge: 'short' }))).code).toBe('BAD_REQUEST');
    for (const body of [{ state: 'x', code: 'y' }, { ...leaked.response, codeVerifier: 'short', device: existing(1 as DeviceId) }, { ...leaked.response, iss: 'ïss', device: existing(1 as DeviceId) }]) {
      const response = await fetch(`${relay.url}/v1/sso/complete`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect([response.status, ((await response.json()) as { code: string }).code]).toEqual([400, 'BAD_REQUEST']);
    }
  });
});

describe('a relay in this process, its clock under the test\'s control', () => {
  let now: number;
  let server: RelayServer;
  let url: string;
  beforeAll(async () => {
    now = Date.now();
    const config = { ...DEFAULT_CONFIG, argon2: { ...DEFAULT_ARGON2, memoryKiB: 8192 }, oidc: OidcConfigSchema.parse({ issuer: provider.issuer, clientId: 'rounds-desktop', reauthenticateAfterDays: 3 }) };
    server = new RelayServer(openStore(dataDir(), { now: () => now }), config, { now: () => now }, () => undefined);
    url = await server.listen({ host: '127.0.0.1', port: 0 }, 'silent');
  });
  afterAll(async () => {
    await server?.close();
  });

  // First: the authenticator's codes are of the real time, which the relay's clock still is.
  it('never links an admin or compliance account by its username, even one without a password yet', async () => {
    await server.accounts.addUser(USERS.officer.username, 'Privacy Officer', 'compliance');
    const refused = await refusal(ssoSignIn(url, USERS.officer, await newDevice('Somewhere')));
    expect(refused).toMatchObject({ code: 'ACCOUNT_NOT_PROVISIONED', status: 403 });
    expect(refused.message).toContain('compliance account');
    expect(await server.store.userByUsername(USERS.officer.username)).toMatchObject({ role: 'compliance', sso: null, displayName: 'Privacy Officer' });
  });

  it('moves an account that enrolled with a password to single sign-on once an admin says so: its workstation stays, its password stops', async () => {
    const { enrollmentCode } = await server.accounts.addUser(USERS.passwordFirst.username, 'Pat First', 'clinician');
    const enrolled = await Clinician.enroll(url, USERS.passwordFirst.username, enrollmentCode, 'a long rounds passphrase 42');
    // A username at the provider alone does not take over an account that has a password: an admin moves it.
    const before = await refusal(ssoSignIn(url, USERS.passwordFirst, await newDevice('Neurology office')));
    expect(before).toMatchObject({ code: 'ACCOUNT_NOT_PROVISIONED', status: 403 });
    expect(before.message).toContain('rounds-server user sso-only');
    await server.accounts.ssoOnly(USERS.passwordFirst.username);
    // Locked by a stranger's guesses at the password path: her sign-in at the provider lifts it, and says so.
    await server.store.updateUser(enrolled.session.userId, { lockedUntil: Number.MAX_SAFE_INTEGER }, []);
    const session = await ssoSignIn(url, USERS.passwordFirst, await newDevice('Neurology office'));
    expect(session.userId).toBe(enrolled.session.userId);
    const unlocked = (await server.store.auditRecordsAfter(0, 10_000, { types: ['account.unlocked'] })).filter((r) => r.subject === session.userId);
    expect(unlocked.map((r) => r.details)).toEqual([{ by: 'sign-in with the identity provider', method: 'sso' }]);
    expect(await server.store.userById(session.userId)).toMatchObject({ source: 'oidc', department: 'Neurology', sso: { issuer: provider.issuer } });
    expect((await signedInAs(url, enrolled.session).ownDevices()).devices).toHaveLength(2);
    // Her password is gone: from a new device it is a wrong sign-in like any other; her workstation is told why.
    const password = await refusal(Clinician.login(url, USERS.passwordFirst.username, 'a long rounds passphrase 42'));
    expect(password).toMatchObject({ code: 'INVALID_CREDENTIALS', status: 401 });
    const atHerWorkstation = await refusal(signedInAs(url, enrolled.session).login(USERS.passwordFirst.username, 'a long rounds passphrase 42', '000000', { kind: 'existing', deviceId: enrolled.session.deviceId }));
    expect(atHerWorkstation).toMatchObject({ code: 'SSO_REQUIRED', status: 403 });
  });

  it('stops an SSO account\'s workstations after reauthenticateAfterDays, open sockets too, until she signs in at the provider again', async () => {
    await server.accounts.addUser(USERS.window.username, 'Win Window', 'clinician');
    const session = await ssoSignIn(url, USERS.window, await newDevice('Ward 10'));
    const socket = await signedInAs(url, session).connect({ onEnvelope: () => undefined });
    // A second workstation whose socket only receives: it sends no frame to be checked at.
    const quietSession = await ssoSignIn(url, USERS.window, await newDevice('Ward 10 tablet'));
    const quiet = await signedInAs(url, quietSession).connect({ onEnvelope: () => undefined });
    // A frame the relay must authorise before it looks at it (a device of this account that does not exist).
    const send = () => socket.send([{ id: randomUUID() as EnvelopeId, type: 'whisper', recipient: { userId: session.userId, deviceId: (session.deviceId + 1) as DeviceId }, content: 'AAAA' }])
      .then(() => 'sent', (e: { code?: string }) => e.code);
    now += 3 * 24 * 3600_000 - 60_000;
    expect((await signedInAs(url, session).ownDevices()).devices).toHaveLength(2);
    expect(await send()).not.toBe('REAUTHENTICATION_REQUIRED');
    expect(socket.open).toBe(true);
    now += 60_000;
    const due = await refusal(signedInAs(url, session).ownDevices());
    expect(due).toMatchObject({ code: 'REAUTHENTICATION_REQUIRED', status: 401 });
    expect(due.message).toMatch(/sign in .* again/);
    // The open socket's next frame meets the same answer, and the socket is closed.
    expect(await send()).toBe('REAUTHENTICATION_REQUIRED');
    await until(() => !socket.open, 'the relay to close the socket');
    // A socket that only receives is closed at its next delivery (here: the relay reads every queue again).
    expect(quiet.open).toBe(true);
    server.hub.resync();
    await until(() => !quiet.open, 'the relay to close the receive-only socket');
    // Signing in at the provider again renews the workstation, and the window starts over.
    const renewed = await ssoSignIn(url, USERS.window, existing(session.deviceId));
    expect((await signedInAs(url, renewed).ownDevices()).devices).toHaveLength(2);
    now += 2 * 24 * 3600_000;
    expect((await signedInAs(url, renewed).ownDevices()).devices).toHaveLength(2);
  });

  it('links an account SCIM provisioned without taking it over: its source keeps its fields', async () => {
    const person = { externalId: 'entra-obj-77', username: USERS.fromScim.username, displayName: 'Dr. Sam Scim', department: 'Imaging', jobTitle: 'Consultant radiologist', contact: 'Bleep 2231', active: true };
    await server.store.provisionPerson(person, { kind: 'scim', tokenName: 'entra' }, now);
    const session = await ssoSignIn(url, USERS.fromScim, await newDevice('Reporting room'));
    expect(session.displayName).toBe('Dr. Sam Scim');
    expect(await server.store.userByUsername(USERS.fromScim.username)).toMatchObject({
      status: 'active', source: 'scim', externalId: 'entra-obj-77', department: 'Imaging', jobTitle: 'Consultant radiologist', sso: { issuer: provider.issuer, signedInAt: now },
    });
  });

  it('takes only so many begun sign-ins from one address at a time', async () => {
    const challenge = await calculatePKCECodeChallenge(randomPKCECodeVerifier());
    const begin = () => new RelayClient(url).ssoBegin({ redirectUri: app.redirectUri, codeChallenge: challenge });
    now += 60_000; // the sign-ins of the tests before are a minute old: the address's allowance is whole again
    for (let i = 0; i < 120; i++) await begin();
    const refused = await refusal(begin());
    expect(refused).toMatchObject({ code: 'THROTTLED', status: 429 });
    now += 60_000;
    await begin();
  });
});

const noPostgres = postgresUnavailable();
describe.skipIf(noPostgres !== null)('single sign-on across relays sharing PostgreSQL (accounts created at sign-in)', () => {
  let pg: TestPostgres;
  let database: string[];
  beforeAll(async () => {
    pg = await startPostgres();
    database = ['--database', await pg.newDatabase(), '--database-password-file', pg.passwordFile];
    expect(adminCli(['migrate', ...database]).status).toBe(0);
  }, 60_000);
  afterAll(async () => {
    await pg?.stop();
  });

  it('completes on one instance a sign-in begun on the other, creating her account at the first sign-in', async () => {
    const [a, b] = [await relayWith({ createAccounts: true }, database), await relayWith({ createAccounts: true }, database)];
    const begunOnA = await reachRedirect(a!.url, USERS.newcomer);
    const session = await begunOnA.complete(b!.url, await newDevice('Oncology day unit'));
    expect(session).toMatchObject({ displayName: 'Nia New', role: 'clinician' });
    // The same sign-in cannot be completed again on either instance.
    expect((await refusal(begunOnA.complete(a!.url, await newDevice('again')))).code).toBe('OIDC_SIGN_IN_EXPIRED');
    const seen = (await signedInAs(a!.url, session).directory()).users.filter((u) => u.username === USERS.newcomer.username);
    expect(seen).toEqual([expect.objectContaining({ userId: session.userId, department: 'Oncology', status: 'active', devices: [session.deviceId] })]);
    // Her second workstation through the other instance joins the same account.
    const second = await ssoSignIn(a!.url, USERS.newcomer, await newDevice('Ward 6'));
    expect(second.userId).toBe(session.userId);
  });
});
