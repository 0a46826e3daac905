import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  COMMANDS, ContractErrorSchema, isCommandName,
  type CommandName, type CommandOutput, type CommandResult, type ContractError, type SessionState, type UiEvent,
} from '../../../shared/contract';
import { describeError } from '../../../shared/errors';
import { DEFAULT_POLICY, type OrgPolicy } from '../../../shared/policy';
import { readRelayCaFile } from '../messaging/RelayTrust';
import { realScheduler, type Scheduler } from '../Clock';
import { consoleLogger, type Logger } from '../Logger';
import { PassphrasePolicyError, RoundsError } from '../errors';
import { ClipboardGuard, type ClipboardAccess } from '../lock/ClipboardGuard';
import { LockController, type LockReason } from '../lock/LockController';
import type { MessagingClientOptions } from '../messaging/MessagingClient';
import { RelayRequestError } from '../messaging/RelayClient';
import { LocalProfiles, type LocalProfilesOptions } from '../storage/LocalProfiles';
import { appendLocalAudit, exportLocalAudit, workstationIdentity } from '../audit/LocalAudit';
import { ConfPreferences, type PreferenceStore } from '../storage/Preferences';
import { createCommandHandlers, type CommandHost, type Handlers } from './commandHandlers';
import { ProfileSessions } from './ProfileSessions';
import { SsoSignIns } from './SsoSignIns';
import { notifiesWhile } from '../presence/notificationPolicy';
import type { SsoRedirectDoor } from '../auth/SsoRedirectDoor';
import type { AttachmentDoor } from '../attachments/AttachmentOpening';

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
  /** How this door sends the browser to the hospital's identity provider and gets it back; none: no single sign-on. */
  readonly ssoDoor?: SsoRedirectDoor;
  /** How this door saves attachments (with the OS's downloaded-file marks) and copies images; none: it cannot. */
  readonly attachmentDoor?: AttachmentDoor;
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

/**
 * The app behind the one UI contract (`shared/contract.ts`): which profile is open (ProfileSessions),
 * lock and unlock, and every command the UI sends (commandHandlers.ts), each validated against its schema
 * before it reaches the client and its answer after. The Electron shell and the browser harness both
 * forward to `invoke` and `subscribe` and add nothing. Errors come back as `{ code, message }` values,
 * never as thrown exceptions.
 */
export class RoundsApp implements CommandHost {
  readonly #profiles: LocalProfiles;
  readonly #preferences: PreferenceStore;
  readonly #options: RoundsAppOptions;
  readonly #listeners = new Set<(event: UiEvent) => void>();
  readonly #handlers: Handlers;
  readonly #policy: OrgPolicy;
  readonly #scheduler: Scheduler;
  readonly #logger: Logger;
  readonly #clipboard: ClipboardGuard;
  /** Which profile is on screen, and opening and closing it. */
  readonly #sessions: ProfileSessions;
  /** Automatic logoff: locks after inactivity, OS lock, suspend or "Lock now"; sign-out after long locks. */
  readonly lockController: LockController;

  constructor(options: RoundsAppOptions) {
    this.#options = options;
    this.#policy = options.policy ?? DEFAULT_POLICY;
    this.#scheduler = options.scheduler ?? realScheduler;
    this.#logger = options.logger ?? consoleLogger;
    this.#clipboard = new ClipboardGuard(options.clipboard);
    this.#profiles = new LocalProfiles(options.dataDir, { ...options.profiles, wipeAfterFailedUnlocks: this.#policy.wipeAfterFailedUnlocks, clock: this.#scheduler });
    this.#preferences = options.preferences ?? new ConfPreferences(options.dataDir);
    this.#sessions = new ProfileSessions({
      profiles: this.#profiles,
      preferences: this.#preferences,
      policy: this.#policy,
      // The hospital's CAs for the relay's certificate, read once from the policy's `relayCaFile`.
      relayTrust: this.#policy.relayCaFile ? readRelayCaFile(this.#policy.relayCaFile) : undefined,
      scheduler: this.#scheduler,
      logger: this.#logger,
      clipboard: this.#clipboard,
      lockController: () => this.lockController,
      client: options.client,
      onClientEvent: (event) => this.#emit(event),
      attachmentDoor: options.attachmentDoor ?? null,
      onStateChange: () => this.#emitState(),
    });
    this.lockController = new LockController({
      scheduler: this.#scheduler,
      maxInactivityMinutes: this.#policy.maxInactivityMinutes,
      userInactivityMinutes: this.#preferences.read().lockTimeoutMinutes,
      signOutAfterLockedHours: this.#policy.signOutAfterLockedHours,
      ...(options.systemIdleSeconds ? { systemIdleSeconds: options.systemIdleSeconds } : {}),
      onLock: (reason) => this.#sessions.close(reason),
      onSignOut: () => {
        this.#sessions.signedOut();
        this.#emitState();
      },
    });
    if (this.#sessions.current) this.lockController.locked();
    const sso = new SsoSignIns({
      door: options.ssoDoor ?? null,
      sessions: this.#sessions,
      relayTrust: this.#policy.relayCaFile ? readRelayCaFile(this.#policy.relayCaFile) : undefined,
      scheduler: this.#scheduler,
      relayUrl: (requested) => this.#policy.relayUrl ?? requested,
    });
    this.#handlers = createCommandHandlers(this, this.#sessions, sso);
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
    // Never `String(name)`: an object from outside may have a toString that throws.
    if (!isCommandName(name)) return { ok: false, error: { code: 'UNKNOWN_COMMAND', message: `no such command: ${typeof name === 'string' ? name.slice(0, 64) : `(a ${name === null ? 'null' : typeof name}, not a name)`}` } };
    try {
      const parsed = COMMANDS[name].input.safeParse(input ?? {});
      if (!parsed.success) {
        const issues = parsed.error.issues.slice(0, 20).map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`);
        return { ok: false, error: { code: 'INVALID_INPUT', message: `invalid input for ${name}`, issues } };
      }
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
    const profiles = this.#sessions.shownProfiles();
    const current = this.#sessions.current;
    if (!current) return { phase: 'signedOut', profiles };
    if (!current.open) return { phase: 'locked', profile: current.summary, profiles, signInRequired: this.#sessions.signInRequired(current.summary.id) };
    return { phase: 'unlocked', profile: current.summary, self: current.open.client.address, online: this.#sessions.online };
  }

  /**
   * Locks the open profile, through the lock controller (the one owner of lock state); resolves when its
   * lock routine (ProfileSessions#close) has run. Nothing to do when no profile is open.
   */
  async lock(cause: LockCause = 'manual'): Promise<SessionState> {
    await this.lockController.lockNow(cause);
    return this.state();
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
    const open = this.#sessions.current?.open;
    if (!open) return null;
    if (event.type === 'message' && event.from === open.client.address.userId) return null;
    const urgent = event.type === 'urgentReminder' || event.urgent;
    // Do not disturb: only urgent messages (and their reminders) raise a notification (presence/notificationPolicy.ts).
    if (!notifiesWhile(open.client.presence.ownStatus(), urgent)) return null;
    const plain = { title: 'Rounds', body: urgent ? 'Urgent message in Rounds' : 'New message in Rounds', urgent, conversationId: event.conversationId };
    if (!this.settings().notificationPreviews) return plain;
    const queries = open.client.queries;
    const message = queries.message(event.messageId);
    const conversation = queries.conversationTitle(event.conversationId);
    if (!message || !conversation) return plain;
    const sender = queries.displayName(message.sender.userId) ?? 'Someone';
    const text = message.body.length > 120 ? `${message.body.slice(0, 119)}…` : message.body;
    return { ...plain, title: `${urgent ? 'Urgent: ' : ''}${conversation.title}`, body: conversation.kind === 'careTeam' ? `${sender}: ${text}` : text };
  }

  settings(): CommandOutput<'settings.get'> {
    const prefs = this.#preferences.read();
    const previewsAllowed = this.#policy.notificationPreviews;
    const current = this.#sessions.current;
    return {
      lockTimeoutMinutes: this.lockController.timeoutMinutes,
      maxLockTimeoutMinutes: this.#policy.maxInactivityMinutes,
      notificationPreviews: previewsAllowed && prefs.notificationPreviews === true,
      notificationPreviewsAllowed: previewsAllowed,
      policyRelayUrl: this.#policy.relayUrl ?? null,
      keyProtection: current?.open ? this.#profiles.keyProtection(current.summary.id) : null,
      passphraseBelowPolicy: this.#sessions.passphraseBelowPolicy,
    };
  }

  updateSettings({ lockTimeoutMinutes, notificationPreviews }: { lockTimeoutMinutes?: number | undefined; notificationPreviews?: boolean | undefined }): CommandOutput<'settings.update'> {
    if (notificationPreviews && !this.#policy.notificationPreviews) throw new RoundsError('INVALID_INPUT', 'the organisation\'s policy does not allow message previews in notifications');
    if (lockTimeoutMinutes !== undefined && lockTimeoutMinutes > this.#policy.maxInactivityMinutes) {
      throw new RoundsError('INVALID_INPUT', `the organisation's policy locks Rounds after at most ${this.#policy.maxInactivityMinutes} minutes`);
    }
    this.#preferences.update({ ...(lockTimeoutMinutes !== undefined ? { lockTimeoutMinutes } : {}), ...(notificationPreviews !== undefined ? { notificationPreviews } : {}) });
    if (lockTimeoutMinutes !== undefined) this.lockController.setUserTimeout(lockTimeoutMinutes);
    return this.settings();
  }

  clipboardCopied(sha256: string): void {
    // Only while a profile is open: nothing on the lock screen can be copied from Rounds.
    if (this.#sessions.current?.open) this.#clipboard.copied(sha256);
  }

  /** The open profile's local audit log as a signed bundle in the exports folder (the export is audited). */
  exportAudit({ from, to }: { from?: number | undefined; to?: number | undefined }): CommandOutput<'audit.export'> {
    const open = this.#sessions.open();
    const now = this.#scheduler.now();
    const path = this.#exportPath(`rounds-audit-${open.profile.id.slice(0, 8)}`);
    const { database } = open.profile;
    const profile = this.#sessions.current?.summary ?? { username: '', displayName: '' };
    return exportLocalAudit(database, open.client.address, workstationIdentity(database, open.client.address, profile), path, { from: from ?? 0, to: to ?? now + 1 }, now);
  }

  /** The relay's signed audit bundle (compliance role only), saved in the exports folder and audited here. */
  async exportRelayAudit(from: number, to: number, username: string | undefined): Promise<CommandOutput<'audit.exportRelay'>> {
    const open = this.#sessions.open();
    const bytes = await open.client.relayAuditExport(from, to, username);
    const path = this.#exportPath(`rounds-relay-audit-${username ?? 'all'}`);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, bytes, { mode: 0o600 });
    appendLocalAudit(open.profile.database, this.#scheduler.now(), 'audit.relayExported', { from, to, user: username ?? null, bytes: bytes.length });
    return { path, bytes: bytes.length };
  }

  /**
   * Where exports go: the workstation's data directory, named by what and when, never an earlier export's name
   * (two in one second get -2, -3, ...). The callers write the file before they next yield to the event loop.
   */
  #exportPath(what: string): string {
    const stamp = new Date(this.#scheduler.now()).toISOString().slice(0, 19).replace(/[:T]/g, '-');
    const named = (n: number) => join(this.#options.dataDir, 'exports', `${what}-${stamp}${n > 1 ? `-${n}` : ''}.zip`);
    let n = 1;
    while (existsSync(named(n))) n++;
    return named(n);
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
