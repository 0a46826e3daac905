import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as electron from '../../test/fixtures/fakeElectron';
import { FAST_KDF, PASSPHRASE, PASSWORD } from '../../test/fixtures/workstation';
import { RelayProcess, addUser, nextTotp, rememberTotpSecret, removeDir, tempDataDir } from '../../test/fixtures/relayProcess';
import { LocalProfiles } from '../core/storage/LocalProfiles';
import { EVENT_CHANNEL, INVOKE_CHANNEL } from '../preload/channels';
import { SafeStorageProtector } from './SafeStorageProtector';
import { CONTENT_SECURITY_POLICY } from '../core/web/contentSecurityPolicy';
import { OrgPolicySchema } from '../../shared/policy';

// Only Electron itself is replaced; everything the shell drives in main/core is real.
vi.mock('electron', () => import('../../test/fixtures/fakeElectron'));

const { startShell, loadPolicyOrExit } = await import('./shell');
const { configureUpdates, UPDATE_CHECK_INTERVAL_MS } = await import('./updates');

describe('the Electron shell, with only the electron module faked', () => {
  const renderer = mkdtempSync(join(tmpdir(), 'rounds-renderer-'));
  const policyDir = mkdtempSync(join(tmpdir(), 'rounds-policy-'));
  let started: Awaited<ReturnType<typeof startShell>>;
  /** A command called over IPC from the app's own frame, as the renderer calls it: its value, or an error naming it. */
  const call = async (command: string, input: unknown) => {
    const invoke = electron.ipcMain.handlers.get(INVOKE_CHANNEL) as (event: unknown, command: unknown, input: unknown) => Promise<{ ok: boolean; value?: unknown; error?: unknown }>;
    const result = await invoke({ senderFrame: { url: 'app://rounds/index.html', parent: null } }, command, input);
    if (!result.ok) throw new Error(`${command}: ${JSON.stringify(result.error)}`);
    return result.value as Record<string, unknown>;
  };

  beforeAll(async () => {
    writeFileSync(join(renderer, 'index.html'), '<!doctype html><title>Rounds</title>');
    mkdirSync(join(renderer, 'assets'));
    writeFileSync(join(renderer, 'assets', 'app.js'), 'console.log(1)');
    writeFileSync(join(policyDir, 'policy.json'), JSON.stringify({ maxInactivityMinutes: 5, contentProtection: true }));
    vi.stubEnv('ROUNDS_POLICY_FILE', join(policyDir, 'policy.json'));
    started = await startShell({ rendererDir: renderer, preload: '/app/preload.cjs' });
  });

  afterAll(async () => {
    await started?.core.close();
    vi.unstubAllEnvs();
    for (const dir of [renderer, policyDir, electron.app.userData]) rmSync(dir, { recursive: true, force: true });
  });

  it('opens one hardened window on app://, titled only "Rounds", with content protection from policy', () => {
    const [window] = electron.FakeBrowserWindow.instances;
    expect(window).toBeDefined();
    expect(window!.options).toMatchObject({ title: 'Rounds' });
    expect(window!.options.webPreferences).toMatchObject({
      contextIsolation: true, sandbox: true, nodeIntegration: false, nodeIntegrationInWorker: false, nodeIntegrationInSubFrames: false,
      webSecurity: true, allowRunningInsecureContent: false, webviewTag: false, preload: '/app/preload.cjs',
    });
    expect(window!.loadedUrl).toBe('app://rounds/index.html');
    expect(window!.contentProtection).toBe(true);
    const titleEvent = { preventDefault: vi.fn() };
    window!.emit('page-title-updated', titleEvent, 'Bed 12 - J. Smith');
    expect(titleEvent.preventDefault).toHaveBeenCalled();
    expect(started!.core.lockController.timeoutMinutes).toBe(5);
  });

  it('blocks navigation away from the app, new windows and webviews', () => {
    const contents = electron.FakeBrowserWindow.instances[0]!.webContents;
    const away = { preventDefault: vi.fn() };
    contents.emit('will-navigate', away, 'https://example.com/phish');
    expect(away.preventDefault).toHaveBeenCalled();
    const inside = { preventDefault: vi.fn() };
    contents.emit('will-navigate', inside, 'app://rounds/index.html');
    expect(inside.preventDefault).not.toHaveBeenCalled();
    const fileUrl = { preventDefault: vi.fn() };
    contents.emit('will-navigate', fileUrl, 'file:///etc/passwd');
    expect(fileUrl.preventDefault).toHaveBeenCalled();
    expect(contents.windowOpenHandler?.({ url: 'https://example.com' })).toEqual({ action: 'deny' });
    const webview = { preventDefault: vi.fn() };
    contents.emit('will-attach-webview', webview);
    expect(webview.preventDefault).toHaveBeenCalled();
  });

  it('grants the renderer no permission at all, notifications included (the main process shows them)', () => {
    const answers: Record<string, boolean> = {};
    for (const permission of ['notifications', 'media', 'geolocation', 'clipboard-read', 'clipboard-sanitized-write', 'openExternal']) {
      electron.session.defaultSession.requestHandler!({}, permission, (allowed) => (answers[permission] = allowed));
    }
    expect(answers).toEqual({ notifications: false, media: false, geolocation: false, 'clipboard-read': false, 'clipboard-sanitized-write': false, openExternal: false });
    expect(electron.session.defaultSession.checkHandler!({}, 'media')).toBe(false);
    expect(electron.session.defaultSession.checkHandler!({}, 'notifications')).toBe(false);
  });

  it('serves the renderer from app:// with the strict CSP, and nothing outside it', async () => {
    expect(electron.protocol.privileged).toEqual([{ scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: true } }]);
    const handler = electron.protocol.handlers.get('app')!;
    const page = await handler({ url: 'app://rounds/' });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).not.toContain('unsafe');
    expect(await page.text()).toContain('<title>Rounds</title>');
    expect((await handler({ url: 'app://rounds/assets/app.js' })).headers.get('content-type')).toMatch(/javascript/);
    expect((await handler({ url: 'app://rounds/..%2f..%2f..%2fetc%2fpasswd' })).status).toBe(403);
    expect((await handler({ url: 'app://elsewhere/index.html' })).status).toBe(404);
    expect((await handler({ url: 'app://rounds/missing.js' })).status).toBe(404);
  });

  it('answers IPC calls only from the app\'s own frame, validated against the shared contract', async () => {
    const invoke = electron.ipcMain.handlers.get(INVOKE_CHANNEL) as (event: unknown, command: unknown, input: unknown) => Promise<{ ok: boolean; error?: { code: string; issues?: string[] }; value?: unknown }>;
    const appFrame = { senderFrame: { url: 'app://rounds/index.html', parent: null } };
    expect(await invoke(appFrame, 'session.state', {})).toEqual({ ok: true, value: { phase: 'signedOut', profiles: [] } });
    const invalid = await invoke(appFrame, 'enroll.begin', { relayUrl: 'not a url', username: 'A B', enrollmentCode: 1 });
    expect(invalid).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT' } });
    expect(invalid.error!.issues!.join(' ')).toMatch(/relayUrl.*username.*enrollmentCode|relayUrl/);
    expect(await invoke(appFrame, 'fs.readFile', { path: '/etc/passwd' })).toMatchObject({ ok: false, error: { code: 'UNKNOWN_COMMAND' } });
    for (const frame of [{ url: 'https://evil.example/', parent: null }, { url: 'app://rounds/index.html', parent: {} }, null]) {
      expect(await invoke({ senderFrame: frame }, 'session.state', {})).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT' } });
    }
  });

  it('passes OS lock and suspend to the lock controller, and menu "Lock now" locks', async () => {
    const controller = started!.core.lockController;
    const osLocked = vi.spyOn(controller, 'osLocked');
    const suspended = vi.spyOn(controller, 'suspended');
    electron.powerMonitor.emit('lock-screen');
    electron.powerMonitor.emit('suspend');
    expect(osLocked).toHaveBeenCalledTimes(1);
    expect(suspended).toHaveBeenCalledTimes(1);
    const lock = vi.spyOn(started!.core, 'lock');
    const menu = electron.Menu.application as { template: { submenu: { label?: string; accelerator?: string; click?: () => void }[] }[] };
    const lockNow = menu.template[0]!.submenu.find((item) => item.label === 'Lock now')!;
    expect(lockNow.accelerator).toBe('CmdOrCtrl+L');
    lockNow.click!();
    expect(lock).toHaveBeenCalledWith('manual');
  });

  it('reloads the window when the core leaves its unlocked session, and not otherwise', async () => {
    const contents = electron.FakeBrowserWindow.instances[0]!.webContents;
    const relayDir = tempDataDir();
    const relay = await RelayProcess.start(relayDir);
    try {
      const before = contents.reloads;
      const begin = await call('enroll.begin', { relayUrl: relay.url, username: 'eli', enrollmentCode: addUser(relayDir, 'eli', 'Dr. Eli Shaw') });
      rememberTotpSecret('eli', begin.totpSecret as string);
      await call('enroll.complete', { enrollmentId: begin.enrollmentId, password: PASSWORD, passphrase: PASSPHRASE, totpCode: await nextTotp('eli'), deviceName: 'Ward 5' });
      // Enrolled and unlocked: nothing to forget yet.
      expect(contents.reloads).toBe(before);
      const locked = await call('session.lock', {});
      expect(contents.reloads).toBe(before + 1);
      // A lock of a locked app, and unlocking, leave the page as it is.
      await call('session.lock', {});
      await call('profile.unlock', { profileId: (locked.profile as { id: string }).id, passphrase: PASSPHRASE });
      expect(contents.reloads).toBe(before + 1);
      // Switching user (signed out) from an unlocked session reloads it too.
      await call('profile.switch', {});
      expect(contents.reloads).toBe(before + 2);
    } finally {
      await call('session.lock', {}).catch(() => undefined);
      await relay.stop();
      removeDir(relayDir);
    }
  }, 60_000);

  it('forwards core events to the window', async () => {
    const contents = electron.FakeBrowserWindow.instances[0]!.webContents;
    await started!.core.invoke('session.lock', {});
    await started!.core.invoke('profile.switch', {});
    expect(contents.sent.some((m) => m.channel === EVENT_CHANNEL && (m.payload as { type: string }).type === 'session')).toBe(true);
  });

  it('protects database keys with safeStorage, and not with Linux\'s plain-text fallback', async () => {
    const protector = new SafeStorageProtector();
    const before = electron.safeStorage.encryptions;
    const dir = mkdtempSync(join(tmpdir(), 'rounds-profiles-'));
    try {
      const profiles = new LocalProfiles(dir, { protector, kdf: FAST_KDF });
      const profile = await profiles.create({ username: 'alice', displayName: 'Alice', relayUrl: 'https://relay.example' }, 'a long passphrase 123');
      profile.lock();
      expect(electron.safeStorage.encryptions).toBe(before + 1);
      const registry = JSON.parse(readFileSync(join(dir, 'profiles.json'), 'utf8')) as { profiles: Record<string, { osProtected: unknown; wrappedKey: unknown }> };
      expect(registry.profiles[profile.id]!.osProtected).not.toBeNull();
      // Only the sealed copy: nothing beside it lets a passphrase be tried without safeStorage.
      expect(registry.profiles[profile.id]!.wrappedKey).toBeNull();
      (await profiles.unlock(profile.id, 'a long passphrase 123')).lock();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    electron.safeStorage.backend = 'basic_text';
    const onLinux = process.platform === 'linux';
    expect(protector.isAvailable()).toBe(!onLinux);
    electron.safeStorage.backend = 'gnome_libsecret';
  });

  it('ignores the policy override variable in an installed app, and locks on shutdown', async () => {
    writeFileSync(join(policyDir, 'policy.json'), JSON.stringify({ maxInactivityMinutes: 240 }));
    expect(loadPolicyOrExit()?.maxInactivityMinutes).toBe(240);
    electron.app.isPackaged = true;
    try {
      // The machine-wide file does not exist here: the defaults, not the user's override.
      expect(loadPolicyOrExit()?.maxInactivityMinutes).toBe(15);
    } finally {
      electron.app.isPackaged = false;
    }
    const osLocked = vi.spyOn(started!.core.lockController, 'osLocked');
    electron.powerMonitor.emit('shutdown');
    expect(osLocked).toHaveBeenCalled();
    expect((await electron.protocol.handlers.get('app')!({ url: 'app://rounds/%E0%A4%A' })).status).toBe(400);
  });

  it('clears the clipboard on lock when it still holds text copied from the window, and leaves other text alone', async () => {
    const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
    const relayDir = tempDataDir();
    const relay = await RelayProcess.start(relayDir);
    try {
      const begin = await call('enroll.begin', { relayUrl: relay.url, username: 'dana', enrollmentCode: addUser(relayDir, 'dana', 'Dr. Dana Reyes') });
      rememberTotpSecret('dana', begin.totpSecret as string);
      await call('enroll.complete', { enrollmentId: begin.enrollmentId, password: PASSWORD, passphrase: PASSPHRASE, totpCode: await nextTotp('dana'), deviceName: 'Ward 4' });
      // Copied in the window (the renderer reports the digest of what it wrote), then "Lock now".
      electron.clipboard.writeText('Bed 12: K+ 6.1, repeat in 2 h');
      await call('clipboard.copied', { sha256: digest('Bed 12: K+ 6.1, repeat in 2 h') });
      const state = await call('session.lock', {});
      expect(electron.clipboard.readText()).toBe('');
      // Copied from Rounds, then something else copied elsewhere: the lock leaves the clipboard alone.
      await call('profile.unlock', { profileId: (state.profile as { id: string }).id, passphrase: PASSPHRASE });
      electron.clipboard.writeText('Bed 7 obs stable');
      await call('clipboard.copied', { sha256: digest('Bed 7 obs stable') });
      electron.clipboard.writeText('an unrelated note from another program');
      electron.clipboard.selection.text = 'Bed 7 obs stable';
      await call('session.lock', {});
      expect(electron.clipboard.readText()).toBe('an unrelated note from another program');
      // Linux's PRIMARY selection holds whatever was last selected in the window: every lock clears it.
      expect(electron.clipboard.selection.text).toBe(process.platform === 'linux' ? '' : 'Bed 7 obs stable');
    } finally {
      await call('session.lock', {}).catch(() => undefined);
      await relay.stop();
      removeDir(relayDir);
    }
  }, 60_000);

  it('stops with a message naming the field when the policy file is invalid', () => {
    writeFileSync(join(policyDir, 'policy.json'), JSON.stringify({ maxInactivityMinutes: 600 }));
    expect(loadPolicyOrExit()).toBeUndefined();
    expect(electron.app.exitCode).toBe(1);
    expect(electron.dialog.errors.at(-1)).toMatchObject({ title: 'Rounds cannot start', content: expect.stringContaining('"maxInactivityMinutes"') });
  });
});

describe('updates under IT\'s control', () => {
  const policy = (updates: 'off' | 'notify' | 'auto') => OrgPolicySchema.parse(updates === 'off' ? {} : { updates, updateFeedUrl: 'https://it.hospital.example/rounds/' });
  // electron-updater needs the Electron runtime: this stands in for it, with the events it emits.
  const fakeUpdater = () => {
    const calls: string[] = [];
    const listeners = new Map<string, (info: { version: string }) => void>();
    const updater = {
      autoDownload: true, autoInstallOnAppQuit: true,
      setFeedURL: (o: { url: string }) => calls.push(`feed ${o.url}`),
      on: (event: string, listener: (info: { version: string }) => void) => (listeners.set(event, listener), updater),
      checkForUpdates: async () => calls.push('check'),
    };
    return { updater, calls, emit: (event: string, version: string) => listeners.get(event)?.({ version }) };
  };

  it('never loads the updater or contacts a server when policy says off (the default)', async () => {
    let loaded = false;
    expect(await configureUpdates(policy('off'), () => undefined, async () => { loaded = true; return fakeUpdater().updater; })).toBeNull();
    expect(loaded).toBe(false);
    expect(OrgPolicySchema.safeParse({ updates: 'auto' }).success).toBe(false);
  });

  it('reads the hospital\'s generic feed at start and every few hours, downloading only with auto, telling the user once per version', async () => {
    for (const mode of ['notify', 'auto'] as const) {
      const { updater, calls, emit } = fakeUpdater();
      const scheduled: { check: () => void; ms: number }[] = [];
      const told: string[] = [];
      await configureUpdates(policy(mode), (m) => told.push(m), async () => updater, (check, ms) => scheduled.push({ check, ms }));
      expect(calls).toEqual(['feed https://it.hospital.example/rounds/', 'check']);
      expect(updater.autoDownload).toBe(mode === 'auto');
      expect(scheduled.map((s) => s.ms)).toEqual([UPDATE_CHECK_INTERVAL_MS]);
      scheduled[0]?.check();
      expect(calls.at(-1)).toBe('check');
      emit('update-available', '1.2.0');
      emit('update-available', '1.2.0');
      emit('update-available', '1.3.0');
      expect(told).toEqual(mode === 'auto'
        ? ['Rounds 1.2.0 is being downloaded; it installs when Rounds restarts.', 'Rounds 1.3.0 is being downloaded; it installs when Rounds restarts.']
        : ['Rounds 1.2.0 is available. Ask IT to install it.', 'Rounds 1.3.0 is available. Ask IT to install it.']);
    }
  });
});

describe('the preload', () => {
  it('exposes exactly invoke and subscribe on window.rounds, over the two channels', async () => {
    await import('../preload/preload');
    const bridge = electron.contextBridge.exposed.get('rounds') as { invoke: (c: string, i: unknown) => Promise<unknown>; subscribe: (l: (e: unknown) => void) => () => void };
    expect(Object.keys(bridge).sort()).toEqual(['invoke', 'subscribe']);
    await bridge.invoke('session.state', {});
    expect(electron.ipcRenderer.invocations.at(-1)).toEqual([INVOKE_CHANNEL, 'session.state', {}]);
    const seen: unknown[] = [];
    const unsubscribe = bridge.subscribe((event) => seen.push(event));
    for (const listener of electron.ipcRenderer.listeners.get(EVENT_CHANNEL) ?? []) (listener as (e: unknown, p: unknown) => void)({}, { type: 'connection', state: 'online' });
    unsubscribe();
    expect(seen).toEqual([{ type: 'connection', state: 'online' }]);
    expect(electron.ipcRenderer.listeners.get(EVENT_CHANNEL)).toEqual([]);
  });
});
