import { randomUUID } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { commonPasswords } from '../../../shared/commonPasswords';
import { passphraseProblems, type PassphraseProblem } from '../../../shared/passphrasePolicy';
import { systemClock, type Clock } from '../Clock';
import { appendLocalAudit } from '../audit/LocalAudit';
import { PassphrasePolicyError, ProfileWipedError, RoundsError, UnlockThrottledError } from '../errors';
import {
  DEFAULT_KDF,
  WrappedKeySchema,
  WrongPassphraseError,
  newDatabaseKey,
  protectKey,
  unprotectKey,
  unwrapWithPassphrase,
  wrapWithPassphrase,
  type Argon2idParams,
  type WrappedKey,
} from './DatabaseKey';
import type { KeyProtector } from './KeyProtector';
import { ProfileDatabase } from './ProfileDatabase';
import { estimateGuessesLog10 } from './passphraseStrength';
import { privateDirectory, restrictTree } from './privateFiles';
import { ProfileRegistry, type ProfileEntry } from './ProfileRegistry';
import { UnlockedProfile } from './UnlockedProfile';

export { UnlockedProfile } from './UnlockedProfile';

/*
 * The local profiles on one workstation: one encrypted database per clinician, each with its own key.
 * The registry (a JSON file) holds only what the lock screen needs before anything is decrypted (the
 * clinician's own name and username, the relay URL), the wrapped key and the failed-attempt count.
 * No PHI and no key in clear is ever in it.
 *
 * Where the OS offers a key store (the KeyProtector: DPAPI, Keychain, libsecret), the passphrase-wrapped
 * key is kept only sealed by it. Nothing on disk then lets anyone test a passphrase without the OS
 * account and machine that sealed it: a copied profile directory cannot be attacked offline, and every
 * guess has to go through unlock(), its throttle and the wipe limit. Where there is none (the browser
 * harness, Linux without a keyring) the wrapped key is stored as it is; Settings and the audit log say so.
 */

export interface ProfileSummary {
  readonly id: string;
  readonly username: string;
  readonly displayName: string;
  readonly relayUrl: string;
}

function summaryOf(id: string, entry: ProfileEntry): ProfileSummary {
  return { id, username: entry.username, displayName: entry.displayName, relayUrl: entry.relayUrl };
}

/** Wrong passphrases allowed in a row before each further attempt has to wait (5 s, doubling, at most 5 min). */
export const FREE_UNLOCK_ATTEMPTS = 3;
const MAX_UNLOCK_WAIT_S = 300;

export function unlockWaitSeconds(failures: number): number {
  return failures < FREE_UNLOCK_ATTEMPTS ? 0 : Math.min(MAX_UNLOCK_WAIT_S, 5 * 2 ** (failures - FREE_UNLOCK_ATTEMPTS));
}

/** How a profile's key is kept: sealed by the OS as well as the passphrase, or by the passphrase alone. */
export type KeyProtection = 'os' | 'passphraseOnly';

/** What a successful unlock changed in how the key is kept (for the audit log), if anything. */
export type KeyMigration = 'clearCopyRemoved' | 'sealed' | null;

export interface LocalProfilesOptions {
  /** OS protection for the wrapped key; when absent or unavailable only the passphrase protects it. */
  readonly protector?: KeyProtector;
  readonly kdf?: Argon2idParams;
  /** Org policy: erase a profile after this many wrong passphrases in a row (null: never). */
  readonly wipeAfterFailedUnlocks?: number | null;
  readonly clock?: Clock;
}

export class LocalProfiles {
  readonly #baseDir: string;
  readonly #registry: ProfileRegistry;
  readonly #options: LocalProfilesOptions;
  readonly #clock: Clock;

  constructor(baseDir: string, options: LocalProfilesOptions = {}) {
    this.#baseDir = baseDir;
    privateDirectory(baseDir);
    // What earlier versions left readable by others (0644 files, 0755 directories) is tightened.
    for (const name of ['profiles', 'profiles.json', 'preferences.json', 'exports']) restrictTree(join(baseDir, name));
    this.#registry = new ProfileRegistry(baseDir);
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  list(): ProfileSummary[] {
    return this.#registry.entries().map(([id, entry]) => summaryOf(id, entry));
  }

  /**
   * Creates a profile with a new random database key wrapped under the passphrase (and sealed by the OS
   * where it can). The passphrase must meet the policy (`shared/passphrasePolicy.ts`); `accountPassword`,
   * when the relay password is chosen in the same step, must differ from it.
   */
  async create(details: { username: string; displayName: string; relayUrl: string }, passphrase: string, options: { accountPassword?: string } = {}): Promise<UnlockedProfile> {
    const problems = this.passphraseProblems(details, passphrase, options.accountPassword);
    if (problems.length > 0) throw new PassphrasePolicyError(problems);
    if (this.list().some((p) => p.username === details.username && p.relayUrl === details.relayUrl)) {
      throw new RoundsError('PROFILE_EXISTS', `a profile for ${details.username} already exists on this workstation`);
    }
    const id = randomUUID();
    const key = newDatabaseKey();
    const wrappedKey = await wrapWithPassphrase(key, passphrase, id, this.#options.kdf ?? DEFAULT_KDF);
    const entry: ProfileEntry = {
      ...details,
      createdAt: this.#clock.now(),
      ...this.#keptAs(wrappedKey),
      failedUnlocks: 0,
      failedUnlockAt: [],
      lockedAt: null,
      signInRequired: false,
    };
    privateDirectory(this.#dir(id));
    const db = new ProfileDatabase(this.#dbPath(id), key, undefined, this.#clock);
    this.#save(id, entry);
    return new UnlockedProfile(id, db, key);
  }

  /**
   * Opens the profile with the passphrase. A wrong passphrase counts an attempt (kept across restarts)
   * and throws WrongPassphraseError; at the policy's limit the profile is erased (ProfileWipedError).
   * A profile written by an earlier version, or before the OS offered a key store, is moved to the
   * sealed form in the same single (atomic) write of the registry that resets the failure count: a crash
   * leaves either the old entry or the new one, and both open.
   */
  async unlock(id: string, passphrase: string): Promise<UnlockedProfile> {
    const entry = this.#entry(id);
    const now = this.#clock.now();
    if (!existsSync(this.#dbPath(id))) throw new RoundsError('STORAGE_CORRUPT', 'the database of this profile is missing from this workstation');
    const { key, wrapped } = await this.#keyFor(id, entry, passphrase, now, { wipeAtLimit: true });
    const db = new ProfileDatabase(this.#dbPath(id), key, undefined, this.#clock);
    const kept = this.#keptAs(wrapped);
    const migration: KeyMigration = kept.osProtected === null ? null : entry.osProtected === null ? 'sealed' : entry.wrappedKey !== null ? 'clearCopyRemoved' : null;
    // The wrong attempts could not be written to the (closed) database when they happened: now they are.
    db.transaction(() => {
      for (const at of entry.failedUnlockAt) appendLocalAudit(db, at, 'session.unlockFailed', {});
      if (migration) appendLocalAudit(db, now, 'profile.keySealed', { change: migration });
    });
    if (entry.failedUnlocks > 0 || migration) this.#save(id, { ...entry, ...(migration ? kept : {}), failedUnlocks: 0, failedUnlockAt: [] });
    return new UnlockedProfile(id, db, key);
  }

  /**
   * Changes the passphrase of a profile (open or not): the current one is checked like an unlock (the
   * same wait and count, but never the wipe: a slip while changing must not erase an open profile; the
   * count stands for the next unlock), the new one must meet the policy, and the database key is wrapped
   * under it with a new salt and kept as before (sealed by the OS where it can be), in one atomic write.
   */
  async changePassphrase(id: string, current: string, next: string): Promise<void> {
    const entry = this.#entry(id);
    const problems = this.passphraseProblems(entry, next);
    if (problems.length > 0) throw new PassphrasePolicyError(problems);
    const now = this.#clock.now();
    const { key } = await this.#keyFor(id, entry, current, now, { wipeAtLimit: false });
    try {
      const wrapped = await wrapWithPassphrase(key, next, id, this.#options.kdf ?? DEFAULT_KDF);
      this.#save(id, { ...this.#entry(id), ...this.#keptAs(wrapped), failedUnlocks: 0, failedUnlockAt: [] });
    } finally {
      key.fill(0);
    }
  }

  /**
   * What is wrong with `passphrase` for this clinician under `shared/passphrasePolicy.ts`, with the large
   * common-password list and zxcvbn's estimate; `accountPassword` when it is chosen in the same step.
   */
  passphraseProblems(details: { username: string; displayName: string }, passphrase: string, accountPassword?: string): PassphraseProblem[] {
    return passphraseProblems(passphrase, { commonPasswords: commonPasswords(), personalWords: [details.username, details.displayName, 'rounds'], accountPassword, estimateGuessesLog10 });
  }

  /**
   * The database key, from the passphrase: throttled (each attempt past the first few waits longer since
   * the last wrong one; an Argon2id guess is slow already, this makes guessing at the lock screen hopeless
   * long before the wipe limit) and counted (kept across restarts); at the policy's limit, when
   * `wipeAtLimit`, the profile is erased (ProfileWipedError).
   */
  async #keyFor(id: string, entry: ProfileEntry, passphrase: string, now: number, options: { wipeAtLimit: boolean }): Promise<{ key: Buffer; wrapped: WrappedKey }> {
    const lastFailure = entry.failedUnlockAt.at(-1) ?? 0;
    const wait = unlockWaitSeconds(entry.failedUnlocks) * 1000 - (now - lastFailure);
    if (wait > 0) throw new UnlockThrottledError(Math.ceil(wait / 1000));
    const wrapped = this.#wrappedKey(entry);
    try {
      return { key: await unwrapWithPassphrase(wrapped, passphrase, id), wrapped };
    } catch (error) {
      if (!(error instanceof WrongPassphraseError)) throw error;
      const failedUnlocks = entry.failedUnlocks + 1;
      const limit = this.#options.wipeAfterFailedUnlocks === undefined ? 10 : this.#options.wipeAfterFailedUnlocks;
      if (options.wipeAtLimit && limit !== null && failedUnlocks >= limit) {
        this.wipe(id);
        throw new ProfileWipedError(failedUnlocks);
      }
      this.#save(id, { ...entry, failedUnlocks, failedUnlockAt: [...entry.failedUnlockAt, now].slice(-100) });
      throw error;
    }
  }

  /** Whether the OS seals this profile's key too, or only the passphrase protects it. */
  keyProtection(id: string): KeyProtection {
    return this.#entry(id).osProtected !== null ? 'os' : 'passphraseOnly';
  }

  /** Records when the profile was locked (the sign-out period counts from then). */
  markLocked(id: string, at: number): void {
    this.#save(id, { ...this.#entry(id), lockedAt: at });
  }

  /** Whether unlocking needs a full sign-in (password + TOTP): flagged, or locked longer than `afterMs`. */
  signInRequired(id: string, now: number, afterMs: number): boolean {
    const entry = this.#entry(id);
    return entry.signInRequired || (entry.lockedAt !== null && now - entry.lockedAt >= afterMs);
  }

  lockedAt(id: string): number | null {
    return this.#entry(id).lockedAt;
  }

  setSignInRequired(id: string, required: boolean): void {
    this.#save(id, { ...this.#entry(id), signInRequired: required, ...(required ? {} : { lockedAt: null }) });
  }

  /** The name the lock screen shows (the relay's display name, learnt at enrollment). */
  setDisplayName(id: string, displayName: string): void {
    this.#save(id, { ...this.#entry(id), displayName });
  }

  /** The account's username, learnt only once the relay registered the workstation (a sign-in through the identity provider). */
  setUsername(id: string, username: string): void {
    this.#save(id, { ...this.#entry(id), username });
  }

  summary(id: string): ProfileSummary {
    return summaryOf(id, this.#entry(id));
  }

  failedUnlocks(id: string): number {
    return this.#entry(id).failedUnlocks;
  }

  /** Erases the profile: its database files and its registry entry. */
  wipe(id: string): void {
    rmSync(this.#dir(id), { recursive: true, force: true });
    this.#registry.remove(id);
  }

  profileDir(id: string): string {
    return this.#dir(id);
  }

  /** How a wrapped key is stored: sealed by the OS where it can be (and then only so), else as it is. */
  #keptAs(wrappedKey: WrappedKey): Pick<ProfileEntry, 'wrappedKey' | 'osProtected'> {
    const protector = this.#protector();
    return protector ? { wrappedKey: null, osProtected: protectKey(Buffer.from(JSON.stringify(wrappedKey)), protector) } : { wrappedKey, osProtected: null };
  }

  #wrappedKey(entry: ProfileEntry): WrappedKey {
    if (!entry.osProtected) {
      if (!entry.wrappedKey) throw new RoundsError('STORAGE_CORRUPT', 'the profile list on this workstation is damaged');
      return entry.wrappedKey;
    }
    const protector = this.#protector();
    if (!protector) throw new RoundsError('STORAGE_CORRUPT', 'this profile is sealed to the operating system account that created it');
    let sealed: Buffer;
    try {
      sealed = unprotectKey(entry.osProtected, protector);
    } catch (error) {
      throw new RoundsError('STORAGE_CORRUPT', 'this profile cannot be opened by this operating system account or machine', { cause: error });
    }
    return WrappedKeySchema.parse(JSON.parse(sealed.toString('utf8')));
  }

  #protector(): KeyProtector | undefined {
    const protector = this.#options.protector;
    return protector?.isAvailable() ? protector : undefined;
  }

  #entry(id: string): ProfileEntry {
    return this.#registry.entry(id);
  }

  #save(id: string, entry: ProfileEntry): void {
    this.#registry.save(id, entry);
  }

  #dir(id: string): string {
    return join(this.#baseDir, 'profiles', id);
  }

  #dbPath(id: string): string {
    return join(this.#dir(id), 'profile.db');
  }
}
