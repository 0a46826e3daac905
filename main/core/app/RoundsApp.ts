import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import {
  COMMANDS, ContractErrorSchema, isCommandName,
  type CommandName, type CommandOutput, type CommandResult, type ContractError, type SessionState, type UiEvent,
} from '../../../shared/contract';
import { describeError } from '../../../shared/errors';
import type { DeviceAddress } from '../../../shared/ids';
import { RoundsError } from '../errors';
import { MessagingClient, type ClientEvent, type Enrollment, type MessagingClientOptions } from '../messaging/MessagingClient';
import { RelayRequestError } from '../messaging/RelayClient';
import { LocalProfiles, type LocalProfilesOptions, type ProfileSummary, type UnlockedProfile } from '../storage/LocalProfiles';
import { ConfPreferences, type PreferenceStore } from '../storage/Preferences';
import { identityViews, messageViews } from './views';

export interface RoundsAppOptions {
  /** Where this workstation keeps its profiles (one encrypted database each) and preferences. */
  readonly dataDir: string;
  readonly profiles?: LocalProfilesOptions;
  /** Client behaviour (back-off, urgent policy, retention, scheduler); events go to subscribers. */
  readonly client?: Omit<MessagingClientOptions, 'onEvent'>;
  /** The shell's preference store (electron-store); by default a JSON file in `dataDir`. */
  readonly preferences?: PreferenceStore;
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
  readonly #handlers: Handlers;

  constructor(options: RoundsAppOptions) {
    this.#options = options;
    this.#profiles = new LocalProfiles(options.dataDir, options.profiles);
    this.#preferences = options.preferences ?? new ConfPreferences(options.dataDir);
    const last = this.#preferences.read().lastProfileId;
    const profiles = this.#profiles.list();
    const start = profiles.find((p) => p.id === last) ?? (profiles.length === 1 ? profiles[0] : undefined);
    if (start) this.#current = { summary: start };
    this.#handlers = this.#createHandlers();
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
      return { ok: true, value } as CommandResult<CommandName>;
    } catch (error) {
      return { ok: false, error: toContractError(error) };
    }
  }

  /** Where the app is now. */
  state(): SessionState {
    const profiles = this.#profiles.list();
    const current = this.#current;
    if (!current) return { phase: 'signedOut', profiles };
    if (!current.open) return { phase: 'locked', profile: current.summary, profiles };
    return { phase: 'unlocked', profile: current.summary, self: current.open.client.address, online: this.#online };
  }

  /** Locks the open profile: the client stops, the database closes and its key is overwritten. */
  async lock(): Promise<SessionState> {
    const open = this.#current?.open;
    if (open && this.#current) {
      this.#current = { summary: this.#current.summary };
      await open.client.stop();
      open.profile.lock();
      this.#online = false;
      this.#emitState();
    }
    return this.state();
  }

  /** Closes everything (app quit). */
  async close(): Promise<void> {
    await this.lock();
    this.#listeners.clear();
  }

  #createHandlers(): Handlers {
    return {
      'session.state': () => this.state(),
      'session.lock': () => this.lock(),
      'profile.switch': async () => {
        await this.lock();
        this.#current = undefined;
        this.#emitState();
        return this.state();
      },
      'profile.unlock': async ({ profileId, passphrase }) => {
        await this.lock();
        let profile: UnlockedProfile;
        try {
          profile = await this.#profiles.unlock(profileId, passphrase);
        } catch (error) {
          // A wiped profile disappears from the screen; a wrong passphrase keeps the lock screen.
          if (error instanceof RoundsError && error.code === 'PROFILE_WIPED') {
            this.#current = undefined;
            this.#emitState();
          }
          throw error;
        }
        this.#open(profile, MessagingClient.open(profile, this.#profiles.summary(profileId).relayUrl, this.#clientOptions()));
        return this.state();
      },
      'enroll.begin': async ({ relayUrl, username, enrollmentCode }) => {
        this.#forgetStaleEnrollments();
        const enrollment = await MessagingClient.beginEnrollment(relayUrl, username, enrollmentCode);
        const enrollmentId = randomUUID();
        this.#enrollments.set(enrollmentId, { enrollment, relayUrl, username, startedAt: Date.now() });
        return { enrollmentId, totpUri: enrollment.totpUri, totpSecret: enrollment.totpSecret };
      },
      'enroll.complete': async ({ enrollmentId, password, passphrase, totpCode, deviceName }) => {
        const pending = this.#enrollments.get(enrollmentId);
        if (!pending) throw new RoundsError('NOT_FOUND', 'this enrollment has expired; start again with the enrollment code');
        await this.#createProfile(pending.relayUrl, pending.username, passphrase, (profile) => pending.enrollment.complete(profile, { password, totpCode, deviceName }, this.#clientOptions()));
        this.#enrollments.delete(enrollmentId);
        return this.state();
      },
      'account.addDevice': async ({ relayUrl, username, password, totpCode, passphrase, deviceName }) => {
        await this.#createProfile(relayUrl, username, passphrase, (profile) => MessagingClient.login(profile, relayUrl, { username, password, totpCode, deviceName }, this.#clientOptions()));
        return this.state();
      },
      'conversations.list': () => this.#client().conversations.list(this.#client().address.userId),
      'conversations.openDirect': ({ userId }) => ({ conversationId: this.#client().openDirect(userId) }),
      'conversations.markRead': ({ conversationId }) => ({ count: this.#client().markRead(conversationId).length }),
      'messages.page': ({ conversationId, limit, before }) => messageViews(this.#client(), this.#client().messages.page(conversationId, limit, before)),
      'messages.search': ({ query, limit }) => messageViews(this.#client(), this.#client().messages.search(query, limit)),
      'messages.send': async ({ conversationId, text, urgent, replyTo }) => ({
        messageId: await this.#client().send(conversationId, text, { ...(urgent ? { urgent } : {}), ...(replyTo ? { replyTo } : {}) }),
      }),
      'messages.retry': async () => {
        const client = this.#client();
        await client.flushOutbox();
        return { pending: client.pendingCount() };
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
  async #createProfile(relayUrl: string, username: string, passphrase: string, register: (profile: UnlockedProfile) => Promise<MessagingClient>): Promise<void> {
    await this.lock();
    const profile = await this.#profiles.create({ username, displayName: username, relayUrl }, passphrase);
    let client: MessagingClient;
    try {
      client = await register(profile);
    } catch (error) {
      profile.lock();
      this.#profiles.wipe(profile.id);
      throw error;
    }
    if (client.displayName) this.#profiles.setDisplayName(profile.id, client.displayName);
    this.#open(profile, client);
  }

  #open(profile: UnlockedProfile, client: MessagingClient): void {
    this.#current = { summary: this.#profiles.summary(profile.id), open: { profile, client } };
    this.#preferences.update({ lastProfileId: profile.id });
    client.start();
    this.#emitState();
  }

  #client(): MessagingClient {
    const open = this.#current?.open;
    if (!open) throw new RoundsError('PROFILE_LOCKED', 'unlock the profile first');
    return open.client;
  }

  #clientOptions(): MessagingClientOptions {
    return { ...this.#options.client, onEvent: (event) => this.#onClientEvent(event) };
  }

  #onClientEvent(event: ClientEvent): void {
    if (event.type === 'connection') this.#online = event.state === 'online';
    this.#emit(event);
  }

  #forgetStaleEnrollments(): void {
    const now = Date.now();
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
        console.error(`UI event listener failed: ${describeError(error)}`);
      }
    }
  }
}

/** Any error as the contract's `{ code, message }`: codes the UI words, never a stack or message text. */
export function toContractError(error: unknown): ContractError {
  if (error instanceof RoundsError) return { code: error.code, message: error.message };
  if (error instanceof RelayRequestError) {
    const candidate = {
      code: error.code, message: error.message,
      ...(error.details.issues ? { issues: error.details.issues } : {}),
      ...(error.details.retryAfterSeconds !== undefined ? { retryAfterSeconds: error.details.retryAfterSeconds } : {}),
    };
    const parsed = ContractErrorSchema.safeParse(candidate);
    if (parsed.success) return parsed.data;
  }
  console.error(`command failed: ${describeError(error)}`);
  return { code: 'INTERNAL', message: 'something went wrong inside Rounds; the details are in the log' };
}
