import { assertNever } from '../../../shared/exhaustive';
import type { OrgPolicy } from '../../../shared/policy';
import type { SsoRedirectDoor } from '../auth/SsoRedirectDoor';
import type { AttachmentDoor } from '../attachments/AttachmentOpening';
import type { ClipboardAccess } from '../lock/ClipboardGuard';
import type { Argon2idParams } from '../storage/DatabaseKey';
import type { KeyProtector } from '../storage/KeyProtector';
import type { PreferenceStore } from '../storage/Preferences';
import { RoundsApp, type NotificationContent } from './RoundsApp';

/** Where the OS shows notifications (Electron's `Notification`). */
export interface NotificationSink {
  /** One notification with only what `RoundsApp.notificationFor` allowed; the sink may skip it (window in focus). */
  show(content: NotificationContent): void;
  /** Withdraws every notification still on screen: a preview must not outlive the lock. */
  closeAll(): void;
}

/** What the OS says that must lock the app at once (Electron's `powerMonitor`). */
export type OsLockSignal = 'osLocked' | 'suspended';

export interface OsLockSignals {
  /** Calls `listener` for each OS lock, suspend or shutdown (a shutdown is an OS lock: lock before the session ends). */
  subscribe(listener: (signal: OsLockSignal) => void): void;
}

/**
 * Everything a door (the Electron shell, the browser harness) gives the core. Every adapter is required,
 * `null` where the door has none, so adding one here makes each door decide what it has instead of
 * silently running without it.
 */
export interface Platform {
  /** Where this workstation keeps its profiles (one encrypted database each) and preferences. */
  readonly dataDir: string;
  /** The organisation's policy, loaded and validated by the door. */
  readonly policy: OrgPolicy;
  /** Non-sensitive settings (last profile, lock timeout). */
  readonly preferences: PreferenceStore;
  /** The OS key store that seals each profile's key; null: the passphrase alone wraps it. */
  readonly keyProtector: KeyProtector | null;
  /** The machine's input idle time in seconds, a safety net for the auto-lock; null: the UI's activity reports only. */
  readonly systemIdleSeconds: (() => number) | null;
  /** The OS clipboard, so lock can clear what Rounds put there; null: the door cannot reach it. */
  readonly clipboard: ClipboardAccess | null;
  /** null: the door shows no OS notifications (the page shows what it shows from the events). */
  readonly notifications: NotificationSink | null;
  /** null: nothing tells the door when the OS locks or suspends. */
  readonly osLockSignals: OsLockSignals | null;
  /** How the door sends the browser to the hospital's identity provider and back (issue 18); null: no single sign-on here. */
  readonly ssoDoor: SsoRedirectDoor | null;
  /** How the door saves attachments (save dialog, downloaded-file marks) and copies images (issue 20); null: it cannot. */
  readonly attachmentDoor: AttachmentDoor | null;
}

/** Settings for tests and development, never for real use. */
export interface DevTuning {
  /** Cheaper key derivation (tests unlock many times). */
  readonly kdf?: Argon2idParams;
}

/**
 * The one composition root: builds the core from a door's adapters and connects the ones the core does
 * not call itself (notifications follow the core's events; the OS's lock signals drive the lock
 * controller). The Electron shell and the browser harness both start the app here, so they differ only
 * in what they plug in.
 */
export function createRoundsApp(platform: Platform, tuning: DevTuning = {}): RoundsApp {
  const app = new RoundsApp({
    dataDir: platform.dataDir,
    policy: platform.policy,
    preferences: platform.preferences,
    profiles: {
      ...(platform.keyProtector ? { protector: platform.keyProtector } : {}),
      ...(tuning.kdf ? { kdf: tuning.kdf } : {}),
    },
    ...(platform.systemIdleSeconds ? { systemIdleSeconds: platform.systemIdleSeconds } : {}),
    ...(platform.clipboard ? { clipboard: platform.clipboard } : {}),
    ...(platform.ssoDoor ? { ssoDoor: platform.ssoDoor } : {}),
    ...(platform.attachmentDoor ? { attachmentDoor: platform.attachmentDoor } : {}),
  });
  const notifications = platform.notifications;
  if (notifications) {
    app.subscribe((event) => {
      if (event.type === 'session' && event.state.phase !== 'unlocked') notifications.closeAll();
      const content = app.notificationFor(event);
      if (content) notifications.show(content);
    });
  }
  platform.osLockSignals?.subscribe((signal) => {
    switch (signal) {
      case 'osLocked': return app.lockController.osLocked();
      case 'suspended': return app.lockController.suspended();
      default: return assertNever(signal, 'OS lock signal');
    }
  });
  return app;
}
