import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { z } from 'zod';
import {
  COMMANDS, ContractErrorSchema, isCommandName,
  type CommandName, type CommandOutput, type CommandResult, type ContractError, type SessionState, type UiEvent,
} from '../../../shared/contract';
import { describeError } from '../../../shared/errors';
import type { DeviceAddress } from '../../../shared/ids';
import { DEFAULT_POLICY, type OrgPolicy } from '../../../shared/policy';
import { readRelayCaFile, type RelayTrust } from '../messaging/RelayTrust';
import { realScheduler, type Scheduler } from '../Clock';
import { consoleLogger, type Logger } from '../Logger';
import { PassphrasePolicyError, RoundsError } from '../errors';
import { ClipboardGuard, type ClipboardAccess } from '../lock/ClipboardGuard';
import { LockController, type LockReason } from '../lock/LockController';
import { MessagingClient, type ClientEvent, type Enrollment, type MessagingClientOptions } from '../messaging/MessagingClient';
import { RelayRequestError } from '../messaging/RelayClient';
import { LocalProfiles, type LocalProfilesOptions, type ProfileSummary, type UnlockedProfile } from '../storage/LocalProfiles';
import { appendLocalAudit, exportLocalAudit } from '../audit/LocalAudit';
import { ConfPreferences, type PreferenceStore } from '../storage/Preferences';
import { messagePage, messagesAround } from './messageWindow';
import { identityViews, messageViews } from './views';

export interface RoundsAppOptions {
  /** Where this workstation keeps its profiles (one encrypted database each) and preferences. */
  readonly dataDir: string;
  readonly profiles?: LocalProfilesOptions;
  /** Client behaviour (back-off); urgent reminders, retention and time come from policy and `scheduler`. */
  readonly client?: Pick<MessagingClientOptions, 'backoff'>;
  /** The shell's preference store (electron-store); by default a JSON file in `dataDir`. */
  readonly preferences?: PreferenceStore;
  /** The organisation's policy (loaded and validated by the caller); safe defaults otherwise. */
  readonly policy?: OrgPolicy;
  /** Time and timers (virtual in tests). */
  readonly scheduler?: Scheduler;
  /** The machine's input idle time in seconds (Electron's powerMonitor); a safety net for the auto-lock. */
  readonly systemIdleSeconds?: () => number;
  /** The OS clipboard (Electron's), so lock can clear what Rounds put there; none in the browser harness. */
  readonly clipboard?: ClipboardAccess;
  /** Where failures nobody asked about (a listener, a lock) are reported; standard error by default. */
  readonly logger?: Logger;
}

/** Why the app locked, as the audit log records it. */
export type LockCause = LockReason;

/** What an OS notification may say: never message text or names unless policy and the user allow previews. */
export interface NotificationContent {
  readonly title: string;
  readonly body: string;
  readonly urgent: boolean;
  readonly conversationId: string;
}

type Handlers = { [C in CommandName]: (input: z.infer<(typeof COMMANDS)[C]['input']>) => Promise<CommandOutput<C>> | CommandOutput<C> };

/** Enrollments begun but not completed are forgotten after this long (the relay's code expires too). */
const ENROLLMENT_TTL_MS = 30 * 60_000;

/**
 * The app behind the one UI contract (`shared/contract.ts`): which profile is open, enrollment, lock and
 * unlock, and every command the UI sends, each validated against its schema before it reaches the
 * client. The Electron shell and the browser harness both forward to `invoke` and `subscribe` and add
 * nothing. Errors come back as `{ code, message }` values, never as thrown exceptions.
 */
export class RoundsApp {
  readonly #profiles: LocalProfiles;
  readonly #preferences: PreferenceStore;
  readonly #options: RoundsAppOptions;
  readonly #listeners = new Set<(event: UiEvent) => void>();
  readonly #enrollments = new Map<string, { enrollment: Enrollment; relayUrl: string; username: string; startedAt: number }>();
  /** The profile on screen (unlocked, or shown on the lock screen); none on the chooser. */
  #current: { summary: ProfileSummary; open?: { profile: UnlockedProfile; client: MessagingClient } } | undefined;
  #online = false;
  /** The open profile was unlocked with a passphrase that the policy now refuses (kept for this session only). */
  #passphraseBelowPolicy = false;
  #heartbeat: { cancel(): void } | undefined;
  /** One unlock or sign-in at a time (two overlapping ones would leave the first database open). */
  #opening: Promise<unknown> = Promise.resolve();
  readonly #handlers: Handlers;
  readonly #policy: OrgPolicy;
  /** The hospital's CAs for the relay's certificate, read once from the policy's `relayCaFile`. */
  readonly #relayTrust: RelayTrust | undefined;
  readonly #scheduler: Scheduler;
  readonly #logger: Logger;
  readonly #clipboard: ClipboardGuard;
  /** Automatic logoff: locks after inactivity, OS lock, suspend or "Lock now"; sign-out after long locks. */
  readonly lockController: LockController;

  constructor(options: RoundsAppOptions) {
    this.#options = options;
    this.#policy = options.policy ?? DEFAULT_POLICY;
    this.#relayTrust = this.#policy.relayCaFile ? readRelayCaFile(this.#policy.relayCaFile) : undefined;
    this.#scheduler = options.scheduler ?? realScheduler;
    this.#logger = options.logger ?? consoleLogger;
    this.#clipboard = new ClipboardGuard(options.clipboard);
    this.#profiles = new LocalProfiles(options.dataDir, { ...options.profiles, wipeAfterFailedUnlocks: this.#policy.wipeAfterFailedUnlocks, clock: this.#scheduler });
    this.#preferences = options.preferences ?? new ConfPreferences(options.dataDir);
    this.lockController = new LockController({
      scheduler: this.#scheduler,
      maxInactivityMinutes: this.#policy.maxInactivityMinutes,
      userInactivityMinutes: this.#preferences.read().lockTimeoutMinutes,
      signOutAfterLockedHours: this.#policy.signOutAfterLockedHours,
      ...(options.systemIdleSeconds ? { systemIdleSeconds: options.systemIdleSeconds } : {}),
      onLock: (reason) => this.#closeProfile(reason),
      onSignOut: () => {
        if (this.#current) this.#profiles.setSignInRequired(this.#current.summary.id, true);
        this.#emitState();
      },
    });
    const last = this.#preferences.read().lastProfileId;
    const profiles = this.#profiles.list();
    const start = profiles.find((p) => p.id === last) ?? (profiles.length === 1 ? profiles[0] : undefined);
    if (start) {
      this.#current = { summary: start };
      this.lockController.locked();
    }
    this.#handlers = this.#createHandlers();
  }

  get policy(): OrgPolicy {
    return this.#policy;
  }

  subscribe(listener: (event: UiEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Runs one command from the UI. `name` and `input` come from outside: both are checked here. */
  async invoke(name: unknown, input: unknown): Promise<CommandResult<CommandName>> {
    if (!isCommandName(name)) return { ok: false, error: { code: 'UNKNOWN_COMMAND', message: `no such command: ${String(name).slice(0, 64)}` } };
    const parsed = COMMANDS[name].input.safeParse(input ?? {});
    if (!parsed.success) {
      const issues = parsed.error.issues.slice(0, 20).map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`);
      return { ok: false, error: { code: 'INVALID_INPUT', message: `invalid input for ${name}`, issues } };
    }
    try {
      const handler = this.#handlers[name] as (input: unknown) => unknown;
      const value = await handler(parsed.data);
      // What goes back is checked as strictly as what came in: a handler that drifts from the contract
      // is an internal error here, not a surprise in the UI.
      const output = COMMANDS[name].output.safeParse(value);
      if (!output.success) throw new Error(`${name} returned what its contract does not allow: ${output.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(output)'}: ${i.message}`).join('; ')}`);
      return { ok: true, value: output.data } as CommandResult<CommandName>;
    } catch (error) {
      return { ok: false, error: toContractError(error, this.#logger) };
    }
  }

  /** Where the app is now. */
  state(): SessionState {
    const profiles = this.#profiles.list();
    const current = this.#current;
    if (!current) return { phase: 'signedOut', profiles };
    if (!current.open) return { phase: 'locked', profile: current.summary, profiles, signInRequired: this.#signInRequired(current.summary.id) };
    return { phase: 'unlocked', profile: current.summary, self: current.open.client.address, online: this.#online };
  }

  /**
   * Locks the open profile, through the lock controller (the one owner of lock state); resolves when the
   * lock routine (#closeProfile) has run. Nothing to do when no profile is open.
   */
  async lock(cause: LockCause = 'manual'): Promise<SessionState> {
    await this.lockController.lockNow(cause);
    return this.state();
  }

  /**
   * The lock routine: the UI drops every view at once (the state event goes out first), then the client
   * stops, the database closes and its key is overwritten, and the clipboard is cleared if it still holds
   * what Rounds put there. It never fails: what goes wrong on the way is logged, and the database closes.
   */
  async #closeProfile(cause: LockCause): Promise<void> {
    const open = this.#current?.open;
    if (!open || !this.#current) return;
    const id = this.#current.summary.id;
    this.#current = { summary: this.#current.summary };
    const now = this.#scheduler.now();
    this.#heartbeat?.cancel();
    this.#emitState();
    try {
      this.#profiles.markLocked(id, now);
      if (cause === 'manual' || cause === 'quit') appendLocalAudit(open.profile.database, now, 'session.locked', { reason: cause });
      else appendLocalAudit(open.profile.database, now, 'session.autoLocked', { reason: cause });
      await open.client.stop();
    } catch (error) {
      this.#logger.error(`locking failed (the database is closed anyway): ${describeError(error)}`);
    } finally {
      // Whatever failed above, the database closes and its key is overwritten.
      open.profile.lock();
      this.#online = false;
      await this.#clipboard.clearIfOurs().catch((error: unknown) => this.#logger.error(`clearing the clipboard failed: ${describeError(error)}`));
    }
  }

  /** Closes everything (app quit). */
  async close(): Promise<void> {
    await this.lock('quit');
    this.lockController.stop();
    this.#listeners.clear();
  }

  /**
   * What the OS notification for an event may show. Without previews (the default) it is only "New
   * message in Rounds"; with previews allowed by policy and wanted by the user, the conversation and the
   * first words. Null for events that notify nothing (including our own messages).
   */
  notificationFor(event: UiEvent): NotificationContent | null {
    if (event.type !== 'message' && event.type !== 'urgentReminder') return null;
    const open = this.#current?.open;
    if (!open) return null;
    if (event.type === 'message' && event.from === open.client.address.userId) return null;
    const urgent = event.type === 'urgentReminder' || event.urgent;
    const plain = { title: 'Rounds', body: urgent ? 'Urgent message in Rounds' : 'New message in Rounds', urgent, conversationId: event.conversationId };
    if (!this.#settings().notificationPreviews) return plain;
    const queries = open.client.queries;
    const message = queries.message(event.messageId);
    const conversation = queries.conversationTitle(event.conversationId);
    if (!message || !conversation) return plain;
    const sender = queries.displayName(message.sender.userId) ?? 'Someone';
    const text = message.body.length > 120 ? `${message.body.slice(0, 119)}…` : message.body;
    return { ...plain, title: `${urgent ? 'Urgent: ' : ''}${conversation.title}`, body: conversation.kind === 'careTeam' ? `${sender}: ${text}` : text };
  }

  #settings() {
    const prefs = this.#preferences.read();
    const previewsAllowed = this.#policy.notificationPreviews;
    return {
      lockTimeoutMinutes: this.lockController.timeoutMinutes,
      maxLockTimeoutMinutes: this.#policy.maxInactivityMinutes,
      notificationPreviews: previewsAllowed && prefs.notificationPreviews === true,
      notificationPreviewsAllowed: previewsAllowed,
      policyRelayUrl: this.#policy.relayUrl ?? null,
      keyProtection: this.#current?.open ? this.#profiles.keyProtection(this.#current.summary.id) : null,
      passphraseBelowPolicy: this.#current?.open !== undefined && this.#passphraseBelowPolicy,
    };
  }

  #signInRequired(id: string): boolean {
    return this.#profiles.signInRequired(id, this.#scheduler.now(), this.#policy.signOutAfterLockedHours * 3600_000);
  }

  #createHandlers(): Handlers {
    return {
      'session.state': () => this.state(),
      'session.lock': () => this.lock('manual'),
      'activity.report': () => {
        this.lockController.activity();
        return {};
      },
      'settings.get': () => this.#settings(),
      'clipboard.copied': ({ sha256 }) => {
        // Only while a profile is open: nothing on the lock screen can be copied from Rounds.
        if (this.#current?.open) this.#clipboard.copied(sha256);
        return {};
      },
      'audit.export': ({ from, to }) => {
        const open = this.#current?.open;
        if (!open) throw new RoundsError('PROFILE_LOCKED', 'unlock the profile first');
        const now = this.#scheduler.now();
        const path = this.#exportPath(`rounds-audit-${open.profile.id.slice(0, 8)}`);
        return exportLocalAudit(open.profile.database, open.client.address, path, { from: from ?? 0, to: to ?? now + 1 }, now);
      },
      'audit.exportRelay': async ({ from, to, username }) => {
        const open = this.#current?.open;
        if (!open) throw new RoundsError('PROFILE_LOCKED', 'unlock the profile first');
        const bytes = await open.client.relayAuditExport(from, to, username);
        const path = this.#exportPath(`rounds-relay-audit-${username ?? 'all'}`);
        mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
        writeFileSync(path, bytes, { mode: 0o600 });
        appendLocalAudit(open.profile.database, this.#scheduler.now(), 'audit.relayExported', { from, to, user: username ?? null, bytes: bytes.length });
        return { path, bytes: bytes.length };
      },
      'account.devices': async () => {
        const client = this.#client();
        return (await client.ownDevices()).map(({ deviceId, name }) => ({ deviceId, name, thisDevice: deviceId === client.address.deviceId }));
      },
      'settings.update': ({ lockTimeoutMinutes, notificationPreviews }) => {
        if (notificationPreviews && !this.#policy.notificationPreviews) throw new RoundsError('INVALID_INPUT', 'the organisation\'s policy does not allow message previews in notifications');
        if (lockTimeoutMinutes !== undefined && lockTimeoutMinutes > this.#policy.maxInactivityMinutes) {
          throw new RoundsError('INVALID_INPUT', `the organisation's policy locks Rounds after at most ${this.#policy.maxInactivityMinutes} minutes`);
        }
        this.#preferences.update({ ...(lockTimeoutMinutes !== undefined ? { lockTimeoutMinutes } : {}), ...(notificationPreviews !== undefined ? { notificationPreviews } : {}) });
        if (lockTimeoutMinutes !== undefined) this.lockController.setUserTimeout(lockTimeoutMinutes);
        return this.#settings();
      },
      'profile.changePassphrase': ({ currentPassphrase, newPassphrase }) => this.#serially(async () => {
        const open = this.#current?.open;
        if (!open || !this.#current) throw new RoundsError('PROFILE_LOCKED', 'unlock the profile first');
        await this.#profiles.changePassphrase(this.#current.summary.id, currentPassphrase, newPassphrase);
        appendLocalAudit(open.profile.database, this.#scheduler.now(), 'passphrase.changed', { keyProtection: this.#profiles.keyProtection(this.#current.summary.id) });
        this.#passphraseBelowPolicy = false;
        return {};
      }),
      'profile.switch': async () => {
        await this.lock('manual');
        this.#current = undefined;
        this.lockController.stop();
        this.#emitState();
        return this.state();
      },
      'profile.unlock': ({ profileId, passphrase }) => this.#serially(async () => {
        if (this.#signInRequired(profileId)) throw new RoundsError('SIGN_IN_REQUIRED', 'Rounds was locked for a long time: sign in with your password and a code from your authenticator');
        const profile = await this.#unlockProfile(profileId, passphrase);
        this.#notePassphraseStrength(profile, passphrase);
        let client: MessagingClient;
        try {
          client = MessagingClient.open(profile, this.#profiles.summary(profileId).relayUrl, this.#clientOptions());
        } catch (error) {
          profile.lock();
          throw error;
        }
        this.#open(profile, client, 'unlock');
        return this.state();
      }),
      'profile.signIn': ({ profileId, passphrase, password, totpCode }) => this.#serially(async () => {
        const summary = this.#profiles.summary(profileId);
        const profile = await this.#unlockProfile(profileId, passphrase);
        this.#notePassphraseStrength(profile, passphrase);
        let client: MessagingClient;
        try {
          client = await MessagingClient.signIn(profile, summary.relayUrl, { username: summary.username, password, totpCode }, this.#clientOptions());
        } catch (error) {
          profile.lock();
          throw error;
        }
        // The sign-out happened while the database was closed: it is recorded now, at the time it took effect.
        const lockedAt = this.#profiles.lockedAt(profileId);
        if (lockedAt !== null) appendLocalAudit(profile.database, lockedAt + this.#policy.signOutAfterLockedHours * 3600_000, 'session.signedOut', { reason: 'locked too long' });
        this.#profiles.setSignInRequired(profileId, false);
        this.#open(profile, client, 'signIn');
        return this.state();
      }),
      'enroll.begin': async ({ relayUrl, username, enrollmentCode }) => {
        this.#forgetStaleEnrollments();
        relayUrl = this.#relayUrl(relayUrl);
        const enrollment = await MessagingClient.beginEnrollment(relayUrl, username, enrollmentCode, this.#relayTrust);
        const enrollmentId = randomUUID();
        this.#enrollments.set(enrollmentId, { enrollment, relayUrl, username, startedAt: this.#scheduler.now() });
        return { enrollmentId, totpUri: enrollment.totpUri, totpSecret: enrollment.totpSecret };
      },
      'enroll.complete': async ({ enrollmentId, password, passphrase, totpCode, deviceName }) => {
        const pending = this.#enrollments.get(enrollmentId);
        if (!pending) throw new RoundsError('NOT_FOUND', 'this enrollment has expired; start again with the enrollment code');
        await this.#createProfile(pending.relayUrl, pending.username, passphrase, password, (profile) => pending.enrollment.complete(profile, { password, totpCode, deviceName }, this.#clientOptions()));
        this.#enrollments.delete(enrollmentId);
        return this.state();
      },
      'account.addDevice': async ({ relayUrl, username, password, totpCode, passphrase, deviceName }) => {
        await this.#createProfile(this.#relayUrl(relayUrl), username, passphrase, password, (profile) => MessagingClient.login(profile, this.#relayUrl(relayUrl), { username, password, totpCode, deviceName }, this.#clientOptions()));
        return this.state();
      },
      'conversations.list': () => this.#client().queries.conversationList(),
      'conversations.openDirect': ({ userId }) => ({ conversationId: this.#client().openDirect(userId) }),
      'conversations.markRead': ({ conversationId }) => ({ count: this.#client().markRead(conversationId).length }),
      'messages.page': ({ conversationId, limit, before, after }) => messagePage(this.#client(), conversationId, limit, before, after),
      'messages.around': ({ conversationId, messageId, limit }) => messagesAround(this.#client(), conversationId, messageId, limit),
      'messages.search': ({ query, limit }) => messageViews(this.#client(), this.#client().queries.search(query, limit)),
      'messages.send': async ({ conversationId, text, urgent, replyTo }) => ({
        messageId: await this.#client().send(conversationId, text, { ...(urgent ? { urgent } : {}), ...(replyTo ? { replyTo } : {}) }),
      }),
      'messages.retry': async () => {
        const client = this.#client();
        await client.flushOutbox();
        return { pending: client.queries.pendingCount() };
      },
      'careTeams.create': ({ title, members }) => ({ conversationId: this.#client().createCareTeam(title, members) }),
      'careTeams.rename': ({ conversationId, title }) => {
        this.#client().renameCareTeam(conversationId, title);
        return {};
      },
      'careTeams.addMembers': ({ conversationId, members }) => {
        this.#client().addCareTeamMembers(conversationId, members);
        return {};
      },
      'careTeams.removeMember': ({ conversationId, userId }) => {
        this.#client().removeCareTeamMember(conversationId, userId);
        return {};
      },
      'directory.list': () => this.#client().directory(),
      'contacts.identities': ({ userId }) => {
        const client = this.#client();
        return identityViews(client.contactIdentities(userId), (s) => client.safetyNumber(s.address).scannable);
      },
      'contacts.acknowledgeIdentityChange': async ({ userId, safetyNumbersSeen }) => ({ acknowledged: await this.#client().acknowledgeIdentityChange(userId, safetyNumbersSeen) }),
      'contacts.markVerified': async ({ userId, deviceId, verified }) => {
        const address: DeviceAddress = { userId, deviceId };
        await this.#client().markVerified(address, verified);
        return {};
      },
    };
  }

  /**
   * A new profile on this workstation for `username`, registered with the relay by `register`. If the
   * relay refuses (a mistyped code, a password the policy rejects), the half-made profile is erased so
   * the user can simply try again.
   */
  async #createProfile(relayUrl: string, username: string, passphrase: string, accountPassword: string, register: (profile: UnlockedProfile) => Promise<MessagingClient>): Promise<void> {
    await this.lock('manual');
    const profile = await this.#profiles.create({ username, displayName: username, relayUrl }, passphrase, { accountPassword });
    this.#passphraseBelowPolicy = false;
    let client: MessagingClient;
    try {
      client = await register(profile);
    } catch (error) {
      profile.lock();
      this.#profiles.wipe(profile.id);
      throw error;
    }
    if (client.displayName) this.#profiles.setDisplayName(profile.id, client.displayName);
    this.#open(profile, client, 'signIn');
  }

  /** Where exports go: the workstation's data directory, named by what and when. */
  #exportPath(what: string): string {
    const stamp = new Date(this.#scheduler.now()).toISOString().slice(0, 19).replace(/[:T]/g, '-');
    return join(this.#options.dataDir, 'exports', `${what}-${stamp}.zip`);
  }

  #serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#opening.catch(() => undefined).then(work);
    this.#opening = run;
    return run;
  }

  /** Opens a profile's database (throttled, counted and, at the policy's limit, wiped by LocalProfiles). */
  async #unlockProfile(profileId: string, passphrase: string): Promise<UnlockedProfile> {
    await this.lock('manual');
    try {
      return await this.#profiles.unlock(profileId, passphrase);
    } catch (error) {
      // A wiped profile disappears from the screen; a wrong passphrase keeps the lock screen.
      if (error instanceof RoundsError && error.code === 'PROFILE_WIPED') {
        this.#current = undefined;
        this.lockController.stop();
        this.#emitState();
      }
      throw error;
    }
  }

  /**
   * A passphrase chosen under an earlier, weaker rule (0.1 checked only its length in the form) still opens
   * the profile; the user is asked to change it, and the audit log says the profile was opened with one.
   */
  #notePassphraseStrength(profile: UnlockedProfile, passphrase: string): void {
    const problems = this.#profiles.passphraseProblems(this.#profiles.summary(profile.id), passphrase);
    this.#passphraseBelowPolicy = problems.length > 0;
    if (problems.length > 0) appendLocalAudit(profile.database, this.#scheduler.now(), 'passphrase.belowPolicy', { rules: problems.map((p) => p.rule).join(' ') });
  }

  #open(profile: UnlockedProfile, client: MessagingClient, how: 'unlock' | 'signIn'): void {
    const now = this.#scheduler.now();
    // While open, the time is noted every minute: after a crash or a power cut (no clean lock), the
    // sign-out period counts from the last time the app was known to be running, not from the restart.
    this.#profiles.markLocked(profile.id, now);
    this.#heartbeat?.cancel();
    this.#heartbeat = this.#scheduler.every(60_000, () => this.#profiles.markLocked(profile.id, this.#scheduler.now()));
    // How the key is kept is recorded with every opening: a profile only the passphrase protects (no OS
    // key store here) can be attacked offline from a copy, and an auditor should see where that is so.
    appendLocalAudit(profile.database, now, how === 'unlock' ? 'session.unlocked' : 'session.signedIn', { keyProtection: this.#profiles.keyProtection(profile.id) });
    const p = this.#policy;
    appendLocalAudit(profile.database, now, 'policy.loaded', {
      maxInactivityMinutes: p.maxInactivityMinutes, signOutAfterLockedHours: p.signOutAfterLockedHours, notificationPreviews: String(p.notificationPreviews),
      contentProtection: String(p.contentProtection), retentionDays: p.retentionDays, wipeAfterFailedUnlocks: p.wipeAfterFailedUnlocks,
    });
    this.#current = { summary: this.#profiles.summary(profile.id), open: { profile, client } };
    this.#preferences.update({ lastProfileId: profile.id });
    client.start();
    this.lockController.unlocked();
    this.#emitState();
  }

  /** The relay URL to use: the policy's when it sets one (the UI cannot change it), else the user's. */
  #relayUrl(requested: string): string {
    return this.#policy.relayUrl ?? requested;
  }

  #client(): MessagingClient {
    const open = this.#current?.open;
    if (!open) throw new RoundsError('PROFILE_LOCKED', 'unlock the profile first');
    return open.client;
  }

  #clientOptions(): MessagingClientOptions {
    const p = this.#policy;
    return {
      ...this.#options.client,
      scheduler: this.#scheduler,
      logger: this.#logger,
      retentionDays: p.retentionDays,
      urgent: { intervalMs: p.urgentReminderMinutes * 60_000, maxReminders: p.urgentMaxReminders },
      onEvent: (event) => this.#onClientEvent(event),
      ...(this.#relayTrust ? { relayTrust: this.#relayTrust } : {}),
    };
  }

  #onClientEvent(event: ClientEvent): void {
    if (event.type === 'connection') this.#online = event.state === 'online';
    this.#emit(event);
  }

  #forgetStaleEnrollments(): void {
    const now = this.#scheduler.now();
    for (const [id, e] of this.#enrollments) if (now - e.startedAt > ENROLLMENT_TTL_MS) this.#enrollments.delete(id);
  }

  #emitState(): void {
    this.#emit({ type: 'session', state: this.state() });
  }

  #emit(event: UiEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#logger.error(`UI event listener failed: ${describeError(error)}`);
      }
    }
  }
}

/** Any error as the contract's `{ code, message }`: codes the UI words, never a stack or message text. */
export function toContractError(error: unknown, logger: Logger = consoleLogger): ContractError {
  if (error instanceof PassphrasePolicyError) return { code: error.code, message: error.message, issues: [...error.issues], rules: [...error.rules] };
  if (error instanceof RoundsError) return { code: error.code, message: error.message, ...(error.retryAfterSeconds !== undefined ? { retryAfterSeconds: error.retryAfterSeconds } : {}) };
  if (error instanceof RelayRequestError) {
    const candidate = {
      code: error.code, message: error.message,
      ...(error.details.issues ? { issues: error.details.issues } : {}),
      ...(error.details.retryAfterSeconds !== undefined ? { retryAfterSeconds: error.details.retryAfterSeconds } : {}),
    };
    const parsed = ContractErrorSchema.safeParse(candidate);
    if (parsed.success) return parsed.data;
  }
  logger.error(`command failed: ${describeError(error)}`);
  return { code: 'INTERNAL', message: 'something went wrong inside Rounds; the details are in the log' };
}
