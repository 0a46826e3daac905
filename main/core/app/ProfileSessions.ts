import type { AttachmentDoor } from '../attachments/AttachmentOpening';
import { randomUUID } from 'node:crypto';
import type { OrgPolicy } from '../../../shared/policy';
import { appendLocalAudit } from '../audit/LocalAudit';
import type { Cancellable, Scheduler } from '../Clock';
import { PassphrasePolicyError, RoundsError } from '../errors';
import type { ClipboardGuard } from '../lock/ClipboardGuard';
import type { LockController, LockReason } from '../lock/LockController';
import type { Logger } from '../Logger';
import { MessagingClient, type ClientEvent, type Enrollment, type MessagingClientOptions } from '../messaging/MessagingClient';
import type { RelayTrust } from '../messaging/RelayTrust';
import type { LocalProfiles, ProfileSummary, UnlockedProfile } from '../storage/LocalProfiles';
import type { PreferenceStore } from '../storage/Preferences';
import { describeError } from '../../../shared/errors';

/** How long a lock waits for the client to stop (finish what it is storing, close its socket) before closing the database anyway. */
const STOP_GRACE_MS = 2000;

/** What a profile made through the identity provider is called until the relay has said whose it is. */
const SSO_PENDING_USERNAME = 'single sign-on';

/** Enrollments begun but not completed are forgotten after this long (the relay's code expires too). */
const ENROLLMENT_TTL_MS = 30 * 60_000;

export interface ProfileSessionsOptions {
  readonly profiles: LocalProfiles;
  readonly preferences: PreferenceStore;
  readonly policy: OrgPolicy;
  readonly relayTrust: RelayTrust | undefined;
  readonly scheduler: Scheduler;
  readonly logger: Logger;
  readonly clipboard: ClipboardGuard;
  /** The app's lock controller (it calls close() as its lock routine). */
  readonly lockController: () => LockController;
  /** Client options from the app (back-off); time, policy and events are added here. */
  readonly client: Pick<MessagingClientOptions, 'backoff'> | undefined;
  readonly onClientEvent: (event: ClientEvent) => void;
  /** What the door does with attachments saved or copied (issue 20); null where it cannot. */
  readonly attachmentDoor: AttachmentDoor | null;
  /** The session state changed: the app tells the UI. */
  readonly onStateChange: () => void;
}

/** The profile on screen (unlocked, or shown on the lock screen). */
export interface CurrentProfile {
  readonly summary: ProfileSummary;
  readonly open?: { readonly profile: UnlockedProfile; readonly client: MessagingClient };
}

/**
 * Which profile is on screen and whether it is open: unlock, sign-in after a long lock, enrollment and
 * adding a device (each creating a profile that is erased again if the relay refuses), switching, the
 * passphrase change, and the lock routine that closes a profile. One opening at a time: two overlapping
 * ones would leave the first database open.
 */
export class ProfileSessions {
  readonly #o: ProfileSessionsOptions;
  readonly #enrollments = new Map<string, { enrollment: Enrollment; relayUrl: string; username: string; startedAt: number }>();
  #current: CurrentProfile | undefined;
  #online = false;
  /** The open profile was unlocked with a passphrase that the policy now refuses (kept for this session only). */
  #passphraseBelowPolicy = false;
  #heartbeat: Cancellable | undefined;
  #opening: Promise<unknown> = Promise.resolve();
  /** Profiles being made whose registration with the relay has not ended yet: not shown (a refusal erases them). */
  readonly #creating = new Set<string>();

  constructor(options: ProfileSessionsOptions) {
    this.#o = options;
    const last = options.preferences.read().lastProfileId;
    const profiles = options.profiles.list();
    const start = profiles.find((p) => p.id === last) ?? (profiles.length === 1 ? profiles[0] : undefined);
    if (start) this.#current = { summary: start };
  }

  /** The profiles to show: all but those still being made. */
  shownProfiles(): ProfileSummary[] {
    return this.#o.profiles.list().filter((p) => !this.#creating.has(p.id));
  }

  get current(): CurrentProfile | undefined {
    return this.#current;
  }

  /** Whether the open profile's client is connected to its relay. */
  get online(): boolean {
    return this.#online;
  }

  get passphraseBelowPolicy(): boolean {
    return this.#current?.open !== undefined && this.#passphraseBelowPolicy;
  }

  /** The open profile, or PROFILE_LOCKED. */
  open(): NonNullable<CurrentProfile['open']> {
    const open = this.#current?.open;
    if (!open) throw new RoundsError('PROFILE_LOCKED', 'unlock the profile first');
    return open;
  }

  signInRequired(id: string): boolean {
    return this.#o.profiles.signInRequired(id, this.#o.scheduler.now(), this.#o.policy.signOutAfterLockedHours * 3600_000);
  }

  /** The lock controller signed the profile out (locked too long): unlocking it needs a full sign-in. */
  signedOut(): void {
    if (this.#current) this.#o.profiles.setSignInRequired(this.#current.summary.id, true);
  }

  /**
   * The lock routine (the lock controller's): the UI drops every view at once (the state event goes out
   * first), then the client stops, the database closes and its key is overwritten, and the clipboard is
   * cleared if it still holds what Rounds put there. It never fails: what goes wrong on the way is
   * logged, and the database closes.
   */
  async close(cause: LockReason): Promise<void> {
    const open = this.#current?.open;
    if (!open || !this.#current) return;
    const id = this.#current.summary.id;
    this.#current = { summary: this.#current.summary };
    const now = this.#o.scheduler.now();
    this.#heartbeat?.cancel();
    this.#o.onStateChange();
    // Each step on its own: a failed write (a full disk) must never skip stopping the client, which would
    // go on receiving (and acknowledging) into a closed database.
    const step = (what: string, work: () => void) => {
      try {
        work();
      } catch (error) {
        this.#o.logger.error(`locking: ${what} failed (the database is closed anyway): ${describeError(error)}`);
      }
    };
    step('noting the lock time', () => this.#o.profiles.markLocked(id, now));
    step('auditing the lock', () => appendLocalAudit(open.profile.database, now, cause === 'manual' || cause === 'quit' ? 'session.locked' : 'session.autoLocked', { reason: cause }));
    try {
      // A relay that does not answer (a dead network) must not keep the database open and its key in
      // memory: after STOP_GRACE_MS the database closes anyway; what was still under way then fails with
      // PROFILE_LOCKED and is neither stored nor acknowledged (the relay delivers it again).
      let grace: { cancel(): void } | undefined;
      await Promise.race([open.client.stop(), new Promise<void>((resolve) => (grace = this.#o.scheduler.after(STOP_GRACE_MS, resolve)))]).finally(() => grace?.cancel());
    } catch (error) {
      this.#o.logger.error(`locking: stopping the client failed (the database is closed anyway): ${describeError(error)}`);
    }
    // Whatever failed above, the database closes and its key is overwritten.
    step('closing the database', () => open.profile.lock());
    if (!this.#current?.open) this.#online = false;
    await this.#o.clipboard.clearIfOurs().catch((error: unknown) => this.#o.logger.error(`clearing the clipboard failed: ${describeError(error)}`));
  }

  /** Back to the chooser. */
  async switchProfile(): Promise<void> {
    await this.#o.lockController().lockNow('manual');
    this.#current = undefined;
    this.#o.lockController().stop();
    this.#o.onStateChange();
  }

  unlock(profileId: string, passphrase: string): Promise<void> {
    return this.#serially(async () => {
      if (this.signInRequired(profileId)) throw new RoundsError('SIGN_IN_REQUIRED', 'Rounds was locked for a long time: sign in with your password and a code from your authenticator');
      const profile = await this.#unlockProfile(profileId, passphrase);
      const client = await this.#closingOnFailure(profile, async () => MessagingClient.open(profile, this.#o.profiles.summary(profileId).relayUrl, this.#clientOptions()));
      this.#open(profile, client, 'unlock');
    });
  }

  /** Unlock after the sign-out period: passphrase, and the account's password and a TOTP code. */
  signIn(profileId: string, passphrase: string, password: string, totpCode: string): Promise<void> {
    return this.#serially(async () => {
      const summary = this.#o.profiles.summary(profileId);
      const profile = await this.#unlockProfile(profileId, passphrase);
      await this.#signedInAgain(profile, () => MessagingClient.signIn(profile, summary.relayUrl, { username: summary.username, password, totpCode }, this.#clientOptions()));
    });
  }

  /**
   * Unlock after the sign-out period of an account that signs in at the identity provider: the passphrase
   * opens the database now; `signIn` (the provider's sign-in, which may take minutes) renews the device's
   * credential, and the profile opens. The database closes again if it fails, is cancelled or times out.
   */
  async unlockForSsoSignIn(profileId: string, passphrase: string): Promise<{ relayUrl: string; signIn: (renew: (profile: UnlockedProfile, relayUrl: string, options: MessagingClientOptions) => Promise<void>) => Promise<void>; abandon: () => void }> {
    const summary = this.#o.profiles.summary(profileId);
    let profile!: UnlockedProfile;
    await this.#serially(async () => {
      profile = await this.#unlockProfile(profileId, passphrase);
    });
    return {
      relayUrl: summary.relayUrl,
      signIn: (renew) => this.#serially(() => this.#signedInAgain(profile, async () => {
        await renew(profile, summary.relayUrl, this.#clientOptions());
        return MessagingClient.open(profile, summary.relayUrl, this.#clientOptions());
      })),
      abandon: () => profile.lock(),
    };
  }

  /** The end of a sign-in after the sign-out period: `renew` gets the client (the database closes if it fails), then the profile opens. */
  async #signedInAgain(profile: UnlockedProfile, renew: () => Promise<MessagingClient>): Promise<void> {
    const client = await this.#closingOnFailure(profile, renew);
    // The sign-out happened while the database was closed: it is recorded now, at the time it took effect.
    const lockedAt = this.#o.profiles.lockedAt(profile.id);
    if (lockedAt !== null) appendLocalAudit(profile.database, lockedAt + this.#o.policy.signOutAfterLockedHours * 3600_000, 'session.signedOut', { reason: 'locked too long' });
    this.#o.profiles.setSignInRequired(profile.id, false);
    this.#open(profile, client, 'signIn');
  }

  async beginEnrollment(requestedRelayUrl: string, username: string, enrollmentCode: string): Promise<{ enrollmentId: string; totpUri: string; totpSecret: string }> {
    const now = this.#o.scheduler.now();
    for (const [id, e] of this.#enrollments) if (now - e.startedAt > ENROLLMENT_TTL_MS) this.#enrollments.delete(id);
    const relayUrl = this.#relayUrl(requestedRelayUrl);
    const enrollment = await MessagingClient.beginEnrollment(relayUrl, username, enrollmentCode, this.#o.relayTrust);
    const enrollmentId = randomUUID();
    this.#enrollments.set(enrollmentId, { enrollment, relayUrl, username, startedAt: now });
    return { enrollmentId, totpUri: enrollment.totpUri, totpSecret: enrollment.totpSecret };
  }

  async completeEnrollment(enrollmentId: string, details: { password: string; passphrase: string; totpCode: string; deviceName: string }): Promise<void> {
    const pending = this.#enrollments.get(enrollmentId);
    if (!pending) throw new RoundsError('NOT_FOUND', 'this enrollment has expired; start again with the enrollment code');
    const { password, totpCode, deviceName } = details;
    await this.#createProfile(pending.relayUrl, pending.username, details.passphrase, password, (profile) => pending.enrollment.complete(profile, { password, totpCode, deviceName }, this.#clientOptions()));
    this.#enrollments.delete(enrollmentId);
  }

  /** This workstation as another device of an existing account. */
  async addDevice(details: { relayUrl: string; username: string; password: string; totpCode: string; passphrase: string; deviceName: string }): Promise<void> {
    const relayUrl = this.#relayUrl(details.relayUrl);
    const { username, password, totpCode, deviceName } = details;
    await this.#createProfile(relayUrl, username, details.passphrase, password, (profile) => MessagingClient.login(profile, relayUrl, { username, password, totpCode, deviceName }, this.#clientOptions()));
  }

  /**
   * A passphrase for a new profile, checked against the policy before the person is sent to the identity
   * provider (PASSPHRASE_POLICY), so they do not come back to be refused. Their names are not known yet: the
   * profile's creation checks again without them.
   */
  checkNewPassphrase(passphrase: string): void {
    const problems = this.#o.profiles.passphraseProblems({ username: '', displayName: '' }, passphrase);
    if (problems.length > 0) throw new PassphrasePolicyError(problems);
  }

  /**
   * This workstation as a new device of an account, signed in through the identity provider (issue 18): the
   * profile is made with the passphrase, then registered; it takes the account's username once the relay
   * has answered (the provider, not the person, said who they are).
   */
  async addSsoDevice(relayUrl: string, passphrase: string, register: (profile: UnlockedProfile, options: MessagingClientOptions) => Promise<{ client: MessagingClient; username: string | undefined }>): Promise<void> {
    let username: string | undefined;
    await this.#createProfile(relayUrl, SSO_PENDING_USERNAME, passphrase, undefined, async (profile) => {
      const registered = await register(profile, this.#clientOptions());
      username = registered.username ?? registered.client.displayName;
      if (username) this.#o.profiles.setUsername(profile.id, username);
      return registered.client;
    });
  }

  /** The open profile signs in again through the identity provider (`register` stores the new credential), and reconnects. */
  reauthenticate(signIn: (profile: UnlockedProfile, relayUrl: string, options: MessagingClientOptions) => Promise<void>): Promise<void> {
    return this.#serially(async () => {
      const open = this.open();
      const summary = this.#o.profiles.summary(open.profile.id);
      await signIn(open.profile, summary.relayUrl, this.#clientOptions());
      appendLocalAudit(open.profile.database, this.#o.scheduler.now(), 'session.signedIn', { keyProtection: this.#o.profiles.keyProtection(summary.id) });
      await open.client.stop();
      const client = MessagingClient.open(open.profile, summary.relayUrl, this.#clientOptions());
      this.#current = { summary, open: { profile: open.profile, client } };
      client.start();
      this.#o.onStateChange();
    });
  }

  changePassphrase(currentPassphrase: string, newPassphrase: string): Promise<void> {
    return this.#serially(async () => {
      const open = this.#current?.open;
      if (!open || !this.#current) throw new RoundsError('PROFILE_LOCKED', 'unlock the profile first');
      await this.#o.profiles.changePassphrase(this.#current.summary.id, currentPassphrase, newPassphrase);
      appendLocalAudit(open.profile.database, this.#o.scheduler.now(), 'passphrase.changed', { keyProtection: this.#o.profiles.keyProtection(this.#current.summary.id) });
      this.#passphraseBelowPolicy = false;
    });
  }

  /**
   * A new profile on this workstation for `username`, registered with the relay by `register`. If the
   * relay refuses (a mistyped code, a password the policy rejects), the half-made profile is erased so
   * the user can simply try again.
   */
  async #createProfile(relayUrl: string, username: string, passphrase: string, accountPassword: string | undefined, register: (profile: UnlockedProfile) => Promise<MessagingClient>): Promise<void> {
    await this.#o.lockController().lockNow('manual');
    this.#o.lockController().opening();
    const profile = await this.#o.profiles.create({ username, displayName: username, relayUrl }, passphrase, accountPassword === undefined ? {} : { accountPassword });
    this.#passphraseBelowPolicy = false;
    let client: MessagingClient;
    this.#creating.add(profile.id);
    try {
      client = await register(profile);
    } catch (error) {
      profile.lock();
      this.#o.profiles.wipe(profile.id);
      throw error;
    } finally {
      this.#creating.delete(profile.id);
    }
    if (client.displayName) this.#o.profiles.setDisplayName(profile.id, client.displayName);
    this.#open(profile, client, 'signIn');
  }

  #serially(work: () => Promise<void>): Promise<void> {
    const run = this.#opening.catch(() => undefined).then(work);
    this.#opening = run;
    return run;
  }

  /** Opens a profile's database (throttled, counted and, at the policy's limit, wiped by LocalProfiles). */
  async #unlockProfile(profileId: string, passphrase: string): Promise<UnlockedProfile> {
    await this.#o.lockController().lockNow('manual');
    this.#o.lockController().opening();
    let profile: UnlockedProfile;
    try {
      profile = await this.#o.profiles.unlock(profileId, passphrase);
    } catch (error) {
      // A wiped profile disappears from the screen; a wrong passphrase keeps the lock screen.
      if (error instanceof RoundsError && error.code === 'PROFILE_WIPED') {
        this.#current = undefined;
        this.#o.lockController().stop();
        this.#o.onStateChange();
      }
      throw error;
    }
    // A passphrase chosen under an earlier, weaker rule (0.1 checked only its length in the form) still
    // opens the profile; the user is asked to change it, and the audit log says it was opened with one.
    const problems = this.#o.profiles.passphraseProblems(this.#o.profiles.summary(profile.id), passphrase);
    this.#passphraseBelowPolicy = problems.length > 0;
    if (problems.length > 0) appendLocalAudit(profile.database, this.#o.scheduler.now(), 'passphrase.belowPolicy', { rules: problems.map((p) => p.rule).join(' ') });
    return profile;
  }

  /** The client for an unlocked profile; if it cannot be had, the database closes again. */
  async #closingOnFailure(profile: UnlockedProfile, client: () => Promise<MessagingClient>): Promise<MessagingClient> {
    try {
      return await client();
    } catch (error) {
      profile.lock();
      throw error;
    }
  }

  #open(profile: UnlockedProfile, client: MessagingClient, how: 'unlock' | 'signIn'): void {
    const { profiles, scheduler, policy: p } = this.#o;
    const now = scheduler.now();
    // While open, the time is noted every minute: after a crash or a power cut (no clean lock), the
    // sign-out period counts from the last time the app was known to be running, not from the restart.
    profiles.markLocked(profile.id, now);
    this.#heartbeat?.cancel();
    this.#heartbeat = scheduler.every(60_000, () => {
      try {
        profiles.markLocked(profile.id, scheduler.now());
      } catch (error) {
        this.#o.logger.error(`noting that Rounds is running failed: ${describeError(error)}`);
      }
    });
    // How the key is kept is recorded with every opening: a profile only the passphrase protects (no OS
    // key store here) can be attacked offline from a copy, and an auditor should see where that is so.
    appendLocalAudit(profile.database, now, how === 'unlock' ? 'session.unlocked' : 'session.signedIn', { keyProtection: profiles.keyProtection(profile.id) });
    appendLocalAudit(profile.database, now, 'policy.loaded', {
      maxInactivityMinutes: p.maxInactivityMinutes, signOutAfterLockedHours: p.signOutAfterLockedHours, notificationPreviews: String(p.notificationPreviews),
      contentProtection: String(p.contentProtection), retentionDays: p.retentionDays, wipeAfterFailedUnlocks: p.wipeAfterFailedUnlocks,
    });
    this.#current = { summary: profiles.summary(profile.id), open: { profile, client } };
    this.#o.preferences.update({ lastProfileId: profile.id });
    client.start();
    this.#o.lockController().unlocked();
    this.#o.onStateChange();
  }

  /** The relay URL to use: the policy's when it sets one (the UI cannot change it), else the user's. */
  #relayUrl(requested: string): string {
    return this.#o.policy.relayUrl ?? requested;
  }

  #clientOptions(): MessagingClientOptions {
    const p = this.#o.policy;
    return {
      ...this.#o.client,
      scheduler: this.#o.scheduler,
      logger: this.#o.logger,
      retentionDays: p.retentionDays,
      attachments: { policy: p.attachments, door: this.#o.attachmentDoor, onImageCopied: () => this.#o.clipboard.copiedImage() },
      urgent: { intervalMs: p.urgentReminderMinutes * 60_000, maxReminders: p.urgentMaxReminders },
      urgentReasons: p.urgentReasons, escalationMinutes: p.escalationMinutes,
      onEvent: (event) => {
        if (event.type === 'connection') this.#online = event.state === 'online';
        this.#o.onClientEvent(event);
      },
      ...(this.#o.relayTrust ? { relayTrust: this.#o.relayTrust } : {}),
    };
  }
}
