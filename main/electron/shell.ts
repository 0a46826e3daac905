import { BrowserWindow, Menu, Notification, app, clipboard, dialog, powerMonitor, session, type MenuItemConstructorOptions } from 'electron';
import ElectronStore from 'electron-store';
import { join } from 'node:path';
import type { OrgPolicy } from '../../shared/policy';
import { RoundsApp, type NotificationContent } from '../core/app/RoundsApp';
import type { LockController } from '../core/lock/LockController';
import { POLICY_FILE_ENV, PolicyError, loadPolicy, policyPath } from '../core/policy/loadPolicy';
import { ConfPreferences } from '../core/storage/Preferences';
import { PRIVATE_FILE_MODE } from '../core/storage/privateFiles';
import { forwardEvents, registerIpc } from './ipc';
import { registerAppScheme, serveRenderer } from './protocol';
import { SafeStorageProtector } from './SafeStorageProtector';
import { configureUpdates } from './updates';
import { APP_ORIGIN, allowPermission, hardenContents } from './security';

export interface ShellPaths {
  /** The built renderer (index.html and its assets). */
  readonly rendererDir: string;
  /** The compiled preload script. */
  readonly preload: string;
}

/** The window never shows anything but the product's name in its title: no patient, no conversation. */
export const WINDOW_TITLE = 'Rounds';

/** Reads the org policy; an invalid file stops the app with a dialog that names the field. */
export function loadPolicyOrExit(): OrgPolicy | undefined {
  try {
    // An installed app reads only the machine-wide file: the override variable is for development and
    // tests, never a way for a user to lift the organisation's limits.
    const env = app.isPackaged ? { ...process.env, [POLICY_FILE_ENV]: undefined } : process.env;
    return loadPolicy(policyPath(process.platform, env)).policy;
  } catch (error) {
    const message = error instanceof PolicyError ? error.message : `The organisation policy could not be read: ${String(error)}`;
    console.error(message);
    dialog.showErrorBox('Rounds cannot start', message);
    app.exit(1);
    return undefined;
  }
}

export function createMainWindow(paths: ShellPaths, policy: OrgPolicy): BrowserWindow {
  const window = new BrowserWindow({
    title: WINDOW_TITLE,
    width: 1200,
    height: 800,
    minWidth: 720,
    minHeight: 480,
    show: false,
    backgroundColor: '#f6f7f9',
    // Electron's security checklist, written out here so reviewers and electronegativity see it whole.
    webPreferences: {
      preload: paths.preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      experimentalFeatures: false,
      navigateOnDragDrop: false,
      disableBlinkFeatures: 'Auxclick',
      safeDialogs: true,
      spellcheck: false,
      devTools: !app.isPackaged && process.env.ROUNDS_DEVTOOLS === '1',
    },
  });
  // The renderer may not put anything (a conversation title, a name) into the window title.
  window.on('page-title-updated', (event) => event.preventDefault());
  window.setContentProtection(policy.contentProtection);
  window.once('ready-to-show', () => window.show());
  void window.loadURL(`${APP_ORIGIN}/index.html`);
  return window;
}

/** OS lock and suspend lock the app at once (the controller ignores them when nothing is open). */
export function wirePowerMonitor(controller: LockController): void {
  powerMonitor.on('lock-screen', () => controller.osLocked());
  powerMonitor.on('suspend', () => controller.suspended());
  // Windows and Linux shutdown: lock (database closed, key dropped) before the session ends.
  powerMonitor.on('shutdown', () => controller.osLocked());
}

export function applicationMenu(onLockNow: () => void): Menu {
  const template: MenuItemConstructorOptions[] = [
    {
      label: 'Rounds',
      submenu: [
        { label: 'Lock now', accelerator: 'CmdOrCtrl+L', click: onLockNow },
        { type: 'separator' },
        { role: 'quit' },
      ],
    },
    { label: 'Edit', submenu: [{ role: 'undo' }, { role: 'redo' }, { type: 'separator' }, { role: 'cut' }, { role: 'copy' }, { role: 'paste' }, { role: 'selectAll' }] },
    { label: 'View', submenu: [{ role: 'resetZoom' }, { role: 'zoomIn' }, { role: 'zoomOut' }, { type: 'separator' }, { role: 'togglefullscreen' }] },
  ];
  return Menu.buildFromTemplate(template);
}

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

/**
 * Starts the desktop app: policy, single instance, the app:// protocol, the hardened window, the IPC
 * bridge, auto-lock wiring and notifications. Everything it decides is in main/core; this only connects
 * Electron's pieces to it.
 */
export async function startShell(paths: ShellPaths): Promise<{ core: RoundsApp; window: BrowserWindow } | undefined> {
  const policy = loadPolicyOrExit();
  if (!policy) return undefined;
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return undefined;
  }
  registerAppScheme();
  app.on('web-contents-created', (_event, contents) => hardenContents(contents));
  await app.whenReady();

  session.defaultSession.setPermissionRequestHandler((_contents, permission, callback) => callback(allowPermission(permission)));
  session.defaultSession.setPermissionCheckHandler((_contents, permission) => allowPermission(permission));
  serveRenderer(paths.rendererDir);

  const core = new RoundsApp({
    dataDir: app.getPath('userData'),
    policy,
    preferences: new ConfPreferences(new ElectronStore<{ preferences: Record<string, unknown> }>({ name: 'preferences', defaults: { preferences: {} }, clearInvalidConfig: true, configFileMode: PRIVATE_FILE_MODE })),
    profiles: { protector: new SafeStorageProtector() },
    systemIdleSeconds: () => powerMonitor.getSystemIdleTime(),
    clipboard: {
      readText: () => clipboard.readText(),
      clear: () => clipboard.clear(),
      ...(process.platform === 'linux' ? { clearSelection: () => clipboard.selection.clear() } : {}),
    },
  });
  const window = createMainWindow(paths, policy);
  const focus = () => {
    if (window.isMinimized()) window.restore();
    window.show();
    window.focus();
  };
  registerIpc(core);
  forwardEvents(core, () => window.webContents);
  core.subscribe((event) => {
    if (event.type === 'session' && event.state.phase !== 'unlocked') closeNotifications();
    const content = core.notificationFor(event);
    if (content && !window.isFocused()) showNotification(content, focus);
  });
  wirePowerMonitor(core.lockController);
  Menu.setApplicationMenu(applicationMenu(() => void core.lock('manual')));
  void configureUpdates(policy, (message) => showNotification({ title: 'Rounds', body: message, urgent: false, conversationId: '' }, focus));
  app.on('second-instance', focus);
  let closing = false;
  app.on('before-quit', (event) => {
    if (closing) return;
    // Lock (close the database, drop the key) before the process goes.
    event.preventDefault();
    closing = true;
    void core.close().finally(() => app.quit());
  });
  app.on('window-all-closed', () => app.quit());
  return { core, window };
}

/** Where the built files live next to the compiled main script. */
export function defaultPaths(baseDir: string): ShellPaths {
  return { rendererDir: join(baseDir, 'renderer'), preload: join(baseDir, 'preload.cjs') };
}
