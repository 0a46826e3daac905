import Conf from 'conf';
import { z } from 'zod';
import { PRIVATE_FILE_MODE } from './privateFiles';

/**
 * Non-sensitive settings of this workstation (never PHI, never a key): the last profile used, the lock
 * timeout the user chose, window placement. Under Node they live in a JSON file next to the profiles
 * (through `conf`, the library under `electron-store`); the Electron shell may hand in its own store.
 */
export const PreferencesSchema = z.object({
  lastProfileId: z.uuid().optional(),
  /** Minutes of inactivity before the app locks, as the user chose (org policy caps it). */
  lockTimeoutMinutes: z.number().int().min(1).max(24 * 60).optional(),
  /** Whether notifications may show a preview (only where org policy allows previews at all). */
  notificationPreviews: z.boolean().optional(),
  window: z.object({ x: z.number().int(), y: z.number().int(), width: z.number().int().min(200), height: z.number().int().min(200), maximized: z.boolean() }).optional(),
});
export type Preferences = z.infer<typeof PreferencesSchema>;

export interface PreferenceStore {
  read(): Preferences;
  update(patch: Partial<Preferences>): void;
}

/** The `get`/`set` of a `conf` store; electron-store is one (it extends conf), so the shell passes its own. */
export interface KeyValueStore {
  get(key: 'preferences'): unknown;
  set(key: 'preferences', value: Record<string, unknown>): void;
}

export class ConfPreferences implements PreferenceStore {
  readonly #store: KeyValueStore;

  /** `preferences.json` in `dir` under Node; in the Electron shell, an electron-store instance. */
  constructor(store: string | KeyValueStore) {
    this.#store = typeof store === 'string'
      ? new Conf<{ preferences: Record<string, unknown> }>({ cwd: store, configName: 'preferences', projectName: 'rounds', defaults: { preferences: {} }, clearInvalidConfig: true, configFileMode: PRIVATE_FILE_MODE })
      : store;
  }

  /** A damaged or hand-edited file falls back to the defaults; it never stops the app. */
  read(): Preferences {
    const parsed = PreferencesSchema.safeParse(this.#store.get('preferences'));
    return parsed.success ? parsed.data : {};
  }

  update(patch: Partial<Preferences>): void {
    const next = PreferencesSchema.parse({ ...this.read(), ...patch });
    this.#store.set('preferences', JSON.parse(JSON.stringify(next)) as Record<string, unknown>);
  }
}
