import { electronAttachmentDoor } from './attachmentDoor';
import { Notification, app, clipboard, powerMonitor, shell, type BrowserWindow } from 'electron';
import ElectronStore from 'electron-store';
import type { OrgPolicy } from '../../shared/policy';
import type { NotificationSink, OsLockSignals, Platform } from '../core/app/createRoundsApp';
import type { NotificationContent } from '../core/app/RoundsApp';
import { SystemBrowserDoor } from '../core/auth/SsoRedirectDoor';
import { ConfPreferences } from '../core/storage/Preferences';
import { PRIVATE_FILE_MODE } from '../core/storage/privateFiles';
import { SafeStorageProtector } from './SafeStorageProtector';

const shown = new Set<Notification>();

/** An OS notification with only what `notificationFor` allowed (by default: "New message in Rounds"). */
export function showNotification(content: NotificationContent, focus: () => void): void {
  if (!Notification.isSupported()) return;
  const notification = new Notification({ title: content.title, body: content.body, urgency: content.urgent ? 'critical' : 'normal', silent: false });
  notification.on('click', focus);
  notification.on('close', () => shown.delete(notification));
  shown.add(notification);
  notification.show();
}

/** On lock, notifications still on screen go (a preview must not outlive the lock). */
export function closeNotifications(): void {
  for (const notification of shown) notification.close();
  shown.clear();
}

/** Notifications only while the window is not in front (the user is already looking at it otherwise). */
function notificationSink(window: BrowserWindow, focus: () => void): NotificationSink {
  return {
    show: (content) => {
      if (!window.isFocused()) showNotification(content, focus);
    },
    closeAll: closeNotifications,
  };
}

/** OS lock and suspend lock the app at once (the controller ignores them when nothing is open). */
const powerMonitorSignals: OsLockSignals = {
  subscribe: (listener) => {
    powerMonitor.on('lock-screen', () => listener('osLocked'));
    powerMonitor.on('suspend', () => listener('suspended'));
    // Windows and Linux shutdown: lock (database closed, key dropped) before the session ends.
    powerMonitor.on('shutdown', () => listener('osLocked'));
  },
};

/** The desktop's adapters for the core: electron-store, safeStorage, powerMonitor, the OS clipboard and notifications, the system browser. */
export function electronPlatform(policy: OrgPolicy, window: BrowserWindow, focus: () => void): Platform {
  return {
    dataDir: app.getPath('userData'),
    policy,
    preferences: new ConfPreferences(new ElectronStore<{ preferences: Record<string, unknown> }>({ name: 'preferences', defaults: { preferences: {} }, clearInvalidConfig: true, configFileMode: PRIVATE_FILE_MODE })),
    keyProtector: new SafeStorageProtector(),
    systemIdleSeconds: () => powerMonitor.getSystemIdleTime(),
    clipboard: {
      readText: () => clipboard.readText(),
      clear: () => clipboard.clear(),
      hasImage: () => clipboard.has('image/png'),
      ...(process.platform === 'linux' ? { clearSelection: () => clipboard.selection.clear() } : {}),
    },
    notifications: notificationSink(window, focus),
    osLockSignals: powerMonitorSignals,
    // Sign-in with the hospital's identity provider in the system browser (RFC 8252), never in a window of ours.
    ssoDoor: new SystemBrowserDoor((url) => shell.openExternal(url)),
    attachmentDoor: electronAttachmentDoor(window),
  };
}
