import type { IdentityChangedEvent } from '../../../shared/events';
import type { DeviceAddress, UserId } from '../../../shared/ids';
import type { KeyUpload } from '../../../shared/wire/keys';
import type { SsoCompleteRequest } from '../../../shared/wire/sso';
import { createDeviceAuditKey } from '../audit/LocalAudit';
import { realScheduler } from '../Clock';
import { ProtocolCore, type ProtocolCoreOptions } from '../crypto/ProtocolCore';
import { RoundsError } from '../errors';
import { AccountSecrets, type AccountDetails } from '../storage/AccountSecrets';
import { ConversationStore } from '../storage/ConversationStore';
import type { UnlockedProfile } from '../storage/LocalProfiles';
import type { MessagingClientOptions } from './ClientContext';
import { RelayClient } from './RelayClient';
import type { RelayTrust } from './RelayTrust';

/** A device of an account, ready for a client: its protocol core and its relay (with its credential). */
export interface RegisteredDevice {
  readonly core: ProtocolCore;
  readonly relay: RelayClient;
}

/**
 * The first half of an enrollment: the relay checks the username and one-time enrollment code and hands
 * out the TOTP secret to show; `register` (password and the first TOTP code) registers this profile's
 * device with its keys.
 */
export async function beginEnrollment(relayUrl: string, username: string, enrollmentCode: string, trust?: RelayTrust) {
  const relay = new RelayClient(relayUrl, undefined, trust);
  const begin = await relay.enrollBegin(username, enrollmentCode);
  return {
    totpUri: begin.totpUri,
    totpSecret: begin.totpSecret,
    register: async (profile: UnlockedProfile, details: { password: string; totpCode: string; deviceName: string }, options: MessagingClientOptions): Promise<RegisteredDevice> => {
      const core = await registerDevice(profile, options, details.deviceName, (keys, auditKey) => relay.enrollComplete(begin.enrollmentId, details.password, details.totpCode, { name: details.deviceName, keys, auditKey }));
      return { core, relay };
    },
  };
}

/** Another device of an existing account (a second workstation): password and TOTP, new keys. */
export async function loginNewDevice(profile: UnlockedProfile, relayUrl: string, details: { username: string; password: string; totpCode: string; deviceName: string }, options: MessagingClientOptions): Promise<RegisteredDevice> {
  const relay = new RelayClient(relayUrl, undefined, options.relayTrust);
  const core = await registerDevice(profile, options, details.deviceName, (keys, auditKey) => relay.login(details.username, details.password, details.totpCode, { kind: 'new', name: details.deviceName, keys, auditKey }));
  return { core, relay };
}

/** What the browser brought back from the identity provider, with the app's PKCE verifier: secrets, never logged. */
export type SsoRedirectResponse = Omit<SsoCompleteRequest, 'device'>;

/**
 * A new workstation of an account, signed in through the hospital's identity provider (issue 18): the first
 * one (enrollment of a pending account) or another one; the relay tells them apart. Returns the account's
 * username as the relay's directory knows it (for the profile list), with the registered device.
 */
export async function ssoNewDevice(profile: UnlockedProfile, relayUrl: string, response: SsoRedirectResponse, deviceName: string, options: MessagingClientOptions): Promise<RegisteredDevice & { username: string | undefined }> {
  const relay = new RelayClient(relayUrl, undefined, options.relayTrust);
  let self: DeviceSession | undefined;
  const core = await registerDevice(profile, options, deviceName, async (keys, auditKey) => (self = await relay.ssoComplete({ ...response, device: { kind: 'new', name: deviceName, keys, auditKey } })));
  if (self?.username) return { core, relay, username: self.username };
  // A relay older than the session's username: the directory knows it (by display name, then account id).
  const found = self ? await relay.searchDirectory(self.displayName, 50).then((d) => d.users.find((u) => u.userId === self?.userId), () => undefined) : undefined;
  return { core, relay, username: found?.username };
}

/** This workstation signs in again through the identity provider (the relay asked: REAUTHENTICATION_REQUIRED); a new credential is stored. */
export async function ssoSignInAgain(profile: UnlockedProfile, relayUrl: string, response: SsoRedirectResponse, options: MessagingClientOptions): Promise<void> {
  const account = enrolledAccount(profile);
  const relay = new RelayClient(relayUrl, account.credential, options.relayTrust);
  const session = await relay.ssoComplete({ ...response, device: { kind: 'existing', deviceId: account.deviceId } });
  new AccountSecrets(profile.database).saveAccount({ ...account, credential: session.credential, displayName: session.displayName, role: session.role });
}

/** An enrolled profile's device again (after unlock or a restart). */
export function openEnrolled(profile: UnlockedProfile, relayUrl: string, options: MessagingClientOptions): RegisteredDevice {
  const account = enrolledAccount(profile);
  return { core: ProtocolCore.open(profile.protocolStorage, coreOptions(profile, options)), relay: new RelayClient(relayUrl, account.credential, options.relayTrust) };
}

/** What the relay answers a registration or sign-in with. The credential is a secret: never logged. */
type DeviceSession = { userId: UserId; deviceId: DeviceAddress['deviceId']; credential: string; displayName: string; role: string; username?: string | undefined };

/**
 * Registers this profile as a new device of an account: new keys (their public halves go to the relay
 * with `request`), and the device's audit key, whose public half the relay records in its own signed log.
 * Returns the registered protocol core; the account is stored in the profile's secrets, with the name the
 * workstation was enrolled with (its audit bundles name it).
 */
async function registerDevice(profile: UnlockedProfile, options: MessagingClientOptions, deviceName: string, request: (keys: KeyUpload, auditKey: string) => Promise<DeviceSession>): Promise<ProtocolCore> {
  const secrets = new AccountSecrets(profile.database);
  if (secrets.account()) throw new RoundsError('ALREADY_ENROLLED', 'this profile already belongs to a device of an account');
  const unregistered = ProtocolCore.createDevice(profile.protocolStorage, null, coreOptions(profile, options));
  const auditKey = createDeviceAuditKey(profile.database);
  const session = await request(await unregistered.keys.initialUpload(), auditKey.publicKeyBase64);
  const core = unregistered.register({ userId: session.userId, deviceId: session.deviceId });
  secrets.saveAccount({ userId: session.userId, deviceId: session.deviceId, credential: session.credential, displayName: session.displayName, role: session.role, deviceName });
  return core;
}

/** The account of an enrolled profile; NO_LOCAL_IDENTITY before enrollment. */
function enrolledAccount(profile: UnlockedProfile): AccountDetails {
  const account = new AccountSecrets(profile.database).account();
  if (!account) throw new RoundsError('NO_LOCAL_IDENTITY', 'this profile has not been enrolled with a relay');
  return account;
}

/**
 * Signs this device in again after the policy's sign-out period: password and a fresh TOTP code; the
 * relay issues a new device credential (the old one stops working), stored here with the account's name.
 * The request carries the device's current credential: it proves the attempt comes from this enrolled
 * workstation, which the relay then throttles on its own, so strangers guessing at the account cannot
 * lock the clinician out of it.
 */
export async function signInAgain(profile: UnlockedProfile, relayUrl: string, details: { username: string; password: string; totpCode: string }, options: MessagingClientOptions): Promise<void> {
  const account = enrolledAccount(profile);
  const relay = new RelayClient(relayUrl, account.credential, options.relayTrust);
  const session = await relay.login(details.username, details.password, details.totpCode, { kind: 'existing', deviceId: account.deviceId });
  new AccountSecrets(profile.database).saveAccount({ ...account, credential: session.credential, displayName: session.displayName, role: session.role });
}

/** The protocol core's options for this profile: its care teams, the client's clock, logger and event stream. */
function coreOptions(profile: UnlockedProfile, options: MessagingClientOptions): ProtocolCoreOptions {
  return {
    careTeams: new ConversationStore(profile.database),
    // Identity changes join the client's event stream (the core raises them after they are stored).
    onEvent: (event: IdentityChangedEvent) => options.onEvent?.(event),
    clock: options.scheduler ?? realScheduler,
    ...(options.logger ? { logger: options.logger } : {}),
  };
}
