import { BrowserWindow, Menu, app, dialog, session, type MenuItemConstructorOptions } from 'electron';
import { join } from 'node:path';
import type { OrgPolicy } from '../../shared/policy';
import { createRoundsApp } from '../core/app/createRoundsApp';
import type { RoundsApp } from '../core/app/RoundsApp';
import { POLICY_FILE_ENV, PolicyError, loadPolicy, policyPath } from '../core/policy/loadPolicy';
import { forwardEvents, registerIpc, reloadOnLock } from './ipc';
import { electronPlatform, showNotification } from './platform';
import { registerAppScheme, serveRenderer } from './protocol';
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

  // The window starts loading now, but its first IPC call can come only after this synchronous block, when the core
  // and its handlers are in place.
  const window = createMainWindow(paths, policy);
  const focus = () => {
    if (window.isMinimized()) window.restore();
    window.show();
    window.focus();
  };
  const core = createRoundsApp(electronPlatform(policy, window, focus));
  registerIpc(core);
  // A closed window has no page to send to (its webContents would throw).
  const contents = () => (window.isDestroyed() ? undefined : window.webContents);
  forwardEvents(core, contents);
  reloadOnLock(core, contents);
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
