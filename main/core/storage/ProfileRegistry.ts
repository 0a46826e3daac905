import Conf from 'conf';
import { z } from 'zod';
import { RoundsError } from '../errors';
import { ProtectedKeySchema, WrappedKeySchema } from './DatabaseKey';
import { PRIVATE_FILE_MODE } from './privateFiles';

/** One profile as the registry keeps it: what the lock screen needs, the wrapped key, the unlock record. */
export const ProfileEntrySchema = z.strictObject({
  username: z.string(),
  displayName: z.string(),
  relayUrl: z.string(),
  createdAt: z.number(),
  /**
   * The passphrase-wrapped key as it is: only for profiles with no OS key store. (Versions before 0.2
   * kept it beside the sealed copy too; the next unlock removes it.)
   */
  wrappedKey: WrappedKeySchema.nullable(),
  /** The passphrase-wrapped key sealed by the OS (DPAPI/Keychain/libsecret), where available. */
  osProtected: ProtectedKeySchema.nullable(),
  failedUnlocks: z.number().int().nonnegative(),
  /** When each of the current run of wrong passphrases was tried (for the throttle and the audit log). */
  failedUnlockAt: z.array(z.number()).max(100).default([]),
  /** When the profile was last locked (the sign-out period counts from here). */
  lockedAt: z.number().nullable().default(null),
  /** Locked for longer than the policy's sign-out period: unlocking needs password and TOTP too. */
  signInRequired: z.boolean().default(false),
}).refine((e) => e.wrappedKey !== null || e.osProtected !== null, 'a profile entry holds its key');
export type ProfileEntry = z.infer<typeof ProfileEntrySchema>;

/**
 * The registry of a workstation's profiles (profiles.json, 0600): holds no PHI and no key in clear. Every
 * change is one atomic write of the file, so a crash leaves the old entry or the new one.
 */
export class ProfileRegistry {
  readonly #conf: Conf<{ profiles: Record<string, unknown> }>;

  constructor(baseDir: string) {
    this.#conf = new Conf({ cwd: baseDir, configName: 'profiles', projectName: 'rounds', defaults: { profiles: {} }, clearInvalidConfig: false, configFileMode: PRIVATE_FILE_MODE });
  }

  /** Every readable entry (one read of the file: conf reads it on every get), skipping damaged ones. */
  entries(): [string, ProfileEntry][] {
    return Object.entries(this.#conf.get('profiles')).flatMap(([id, raw]): [string, ProfileEntry][] => {
      const entry = ProfileEntrySchema.safeParse(raw);
      return entry.success ? [[id, entry.data]] : [];
    });
  }

  entry(id: string): ProfileEntry {
    const raw = this.#conf.get('profiles')[id];
    if (raw === undefined) throw new RoundsError('PROFILE_NOT_FOUND', 'no such profile on this workstation');
    const parsed = ProfileEntrySchema.safeParse(raw);
    if (!parsed.success) throw new RoundsError('STORAGE_CORRUPT', 'the profile list on this workstation is damaged');
    return parsed.data;
  }

  save(id: string, entry: ProfileEntry): void {
    this.#conf.set('profiles', { ...this.#conf.get('profiles'), [id]: entry });
  }

  remove(id: string): void {
    this.#conf.set('profiles', Object.fromEntries(Object.entries(this.#conf.get('profiles')).filter(([key]) => key !== id)));
  }
}
