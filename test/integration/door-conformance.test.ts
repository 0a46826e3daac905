import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createContext, runInContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocket as NodeWebSocket } from 'ws';
import * as electron from '../fixtures/fakeElectron';
import { nextTotp, rememberTotpSecret } from '../fixtures/relayProcess';
import { useTempDirs } from '../fixtures/tempDirs';
import { PASSPHRASE, PASSWORD } from '../fixtures/workstation';
import { startEmbeddedRelay } from '../../scripts/embeddedRelay';
import { DEMO_ACCOUNTS, startHarness, type Harness } from '../../scripts/web';
import type { RelayServer } from '../../server/RelayServer';
import type { RoundsBridge, UiEvent } from '../../shared/contract';
import { DEFAULT_POLICY } from '../../shared/policy';

/*
 * The two doors to the core, the Electron preload and the browser harness's WebSocket, must answer the
 * same script of commands with the same results and the same events. Each door is driven as its page
 * drives it: the real preload over the shell's IPC handler (only the `electron` module is faked), and the
 * harness's own bridge script, as the harness serves it, over its WebSocket with the page's token cookie.
 * What legitimately differs (ids, times, secrets, each door's relay address) is normalised; the one
 * difference of platform (the desktop seals keys in the OS key store, a browser has none) is asserted.
 */
vi.mock('electron', () => import('../fixtures/fakeElectron'));

const { startShell } = await import('../../main/electron/shell');

interface Door {
  readonly name: string;
  readonly bridge: RoundsBridge;
  readonly events: UiEvent[];
  readonly relay: RelayServer;
  readonly relayUrl: string;
}

/** One step of the script: a command, or (for steps that need what an earlier step answered) a function of the door. */
interface Step {
  readonly label: string;
  readonly command: unknown;
  readonly input: (door: Door, earlier: Map<string, unknown>) => unknown | Promise<unknown>;
  /** Wait for this event before the step's events are taken (the connection comes up after the answer). */
  readonly until?: (event: UiEvent) => boolean;
}

const WRONG_PASSPHRASE = 'not my workstation passphrase 1';
const online = (event: UiEvent) => event.type === 'connection' && event.state === 'online';
const valueOf = (earlier: Map<string, unknown>, label: string) => (earlier.get(label) as { value: Record<string, unknown> }).value;
const profileId = (earlier: Map<string, unknown>) => (valueOf(earlier, 'enroll.complete').profile as { id: string }).id;

const SCRIPT: Step[] = [
  { label: 'session.state (fresh)', command: 'session.state', input: () => ({}) },
  { label: 'enroll.begin', command: 'enroll.begin', input: async (door) => ({ relayUrl: door.relayUrl, username: 'dana', enrollmentCode: await enrollmentCode(door.relay) }) },
  {
    label: 'enroll.complete', command: 'enroll.complete', until: online,
    input: async (door, earlier) => {
      const { enrollmentId, totpSecret } = valueOf(earlier, 'enroll.begin') as { enrollmentId: string; totpSecret: string };
      rememberTotpSecret(`${door.name}:dana`, totpSecret);
      return { enrollmentId, password: PASSWORD, passphrase: PASSPHRASE, totpCode: await nextTotp(`${door.name}:dana`), deviceName: 'Ward 4' };
    },
  },
  { label: 'settings.get', command: 'settings.get', input: () => ({}) },
  { label: 'conversations.list', command: 'conversations.list', input: () => ({}) },
  { label: 'directory.list', command: 'directory.list', input: () => ({}) },
  { label: 'account.devices', command: 'account.devices', input: () => ({}) },
  { label: 'activity.report', command: 'activity.report', input: () => ({}) },
  { label: 'session.lock', command: 'session.lock', input: () => ({}) },
  { label: 'conversations.list (locked)', command: 'conversations.list', input: () => ({}) },
  { label: 'profile.unlock (wrong passphrase)', command: 'profile.unlock', input: (_door, earlier) => ({ profileId: profileId(earlier), passphrase: WRONG_PASSPHRASE }) },
  { label: 'profile.unlock', command: 'profile.unlock', until: online, input: (_door, earlier) => ({ profileId: profileId(earlier), passphrase: PASSPHRASE }) },
  { label: 'session.state (unlocked)', command: 'session.state', input: () => ({}) },
  { label: 'unknown command', command: 'fs.readFile', input: () => ({ path: '/etc/passwd' }) },
  { label: 'unknown command (long name)', command: `x${'y'.repeat(150)}`, input: () => ({}) },
  { label: 'unknown command (not a string)', command: 42, input: () => ({}) },
  { label: 'unknown command (an object whose toString cannot be called)', command: { toString: 1 }, input: () => ({}) },
  { label: 'unknown command (deeply nested)', command: JSON.parse(`${'['.repeat(500)}${']'.repeat(500)}`) as unknown, input: () => ({}) },
  { label: 'malformed input (wrong fields)', command: 'enroll.begin', input: () => ({ relayUrl: 'not a url', username: 'A B', enrollmentCode: 1 }) },
  { label: 'malformed input (extra field)', command: 'settings.get', input: () => ({ admin: true }) },
  { label: 'malformed input (not an object)', command: 'session.lock', input: () => 'now' },
  { label: 'malformed input (no input)', command: 'session.state', input: () => undefined },
  { label: 'session.lock (end)', command: 'session.lock', input: () => ({}) },
];

/** The same pending account on each door's relay: the demo accounts the harness makes, and dana. */
async function enrollmentCode(relay: RelayServer): Promise<string> {
  return (await relay.accounts.addUser('dana', 'Dr. Dana Reyes', 'clinician')).enrollmentCode;
}

/** Waits until `until` has been seen (if given) and no event has come for a while. */
async function settle(events: UiEvent[], from: number, until?: (event: UiEvent) => boolean): Promise<void> {
  const deadline = Date.now() + 15_000;
  let seen = events.length;
  let quietSince = Date.now();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    if (events.length !== seen) {
      seen = events.length;
      quietSince = Date.now();
    }
    const reached = !until || events.slice(from).some(until);
    if ((reached && Date.now() - quietSince >= 300) || Date.now() > deadline) return;
  }
}

async function runScript(door: Door): Promise<{ label: string; result: unknown; events: UiEvent[] }[]> {
  const earlier = new Map<string, unknown>();
  const transcript = [];
  for (const step of SCRIPT) {
    const input = await step.input(door, earlier);
    const from = door.events.length;
    // A door that never answers is a difference too, not a hang.
    const result = await Promise.race([
      door.bridge.invoke(step.command as never, input as never),
      new Promise((resolve) => setTimeout(() => resolve('<no answer in 20 s>'), 20_000)),
    ]);
    await settle(door.events, from, step.until);
    earlier.set(step.label, result);
    transcript.push({ label: step.label, result, events: door.events.slice(from) });
  }
  return transcript;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/**
 * What may differ between two runs of the same script: ids (numbered in order of appearance, so the same
 * id stays the same placeholder), times, the TOTP secret, the door's relay address, and (checked
 * separately) how the platform keeps the key. Also takes each value out of the realm it came from.
 */
function normalise(transcript: unknown, relayUrl: string): unknown {
  const ids = new Map<string, string>();
  const walk = (value: unknown, key?: string): unknown => {
    if (key === 'totpSecret' || key === 'totpUri') return '<totp secret>';
    if (key === 'keyProtection') return '<the platform key store>';
    if (typeof value === 'number' && key !== undefined && /^(at|.*At)$/.test(key)) return '<time>';
    if (typeof value === 'string') {
      return value.split(relayUrl).join('<relay>').replace(UUID, (id) => {
        if (!ids.has(id)) ids.set(id, `<id ${ids.size + 1}>`);
        return ids.get(id)!;
      });
    }
    if (Array.isArray(value)) return value.map((item) => walk(item));
    if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, k)]));
    return value;
  };
  return walk(JSON.parse(JSON.stringify(transcript)));
}

describe('the Electron preload and the harness WebSocket answer alike', () => {
  const tempDir = useTempDirs();
  const doors: Door[] = [];
  const closers: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    const renderer = tempDir();
    writeFileSync(join(renderer, 'index.html'), '<!doctype html><title>Rounds</title><script type="module" src="./app.js"></script>');

    // The desktop: the shell with its own relay (with the harness's demo accounts too), named by policy
    // as the harness names its own.
    const { relay: shellRelay, url: shellRelayUrl } = await startEmbeddedRelay(tempDir(), 0, true);
    closers.push(() => shellRelay.close());
    for (const account of DEMO_ACCOUNTS) await shellRelay.accounts.addUser(account.username, account.displayName, 'clinician');
    const policyDir = tempDir();
    writeFileSync(join(policyDir, 'policy.json'), JSON.stringify({ relayUrl: shellRelayUrl }));
    vi.stubEnv('ROUNDS_POLICY_FILE', join(policyDir, 'policy.json'));
    const shell = await startShell({ rendererDir: renderer, preload: '/app/preload.cjs' });
    if (!shell) throw new Error('the shell did not start');
    closers.push(() => shell.core.close());
    electron.connectRenderer(electron.FakeBrowserWindow.instances.at(-1)!);
    await import('../../main/preload/preload');
    const preload = electron.contextBridge.exposed.get('rounds') as RoundsBridge;
    const shellEvents: UiEvent[] = [];
    preload.subscribe((event) => shellEvents.push(event));
    doors.push({ name: 'electron', bridge: preload, events: shellEvents, relay: shellRelay, relayUrl: shellRelayUrl });

    // The browser: the harness, and the bridge script it serves, run as its page runs it.
    const harness: Harness = await startHarness({ port: 0, dataDir: tempDir(), policy: DEFAULT_POLICY, rendererDir: renderer });
    closers.push(() => harness.close());
    doors.push({ name: 'harness', ...(await harnessPage(harness, 'conformance')), relay: harness.relay, relayUrl: harness.relayUrl });
  }, 120_000);

  afterAll(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    vi.unstubAllEnvs();
  });

  it('gives the same results and the same events for one script of commands', async () => {
    const [shell, browser] = doors;
    const shellRun = await runScript(shell!);
    const browserRun = await runScript(browser!);

    // The script did what it means to do (two doors that both broke alike would agree, too).
    const result = (label: string) => shellRun.find((step) => step.label === label)!.result as { ok: boolean; value?: Record<string, unknown>; error?: { code: string } };
    expect(result('enroll.complete')).toMatchObject({ ok: true, value: { phase: 'unlocked' } });
    expect(result('profile.unlock (wrong passphrase)')).toMatchObject({ ok: false, error: { code: 'WRONG_PASSPHRASE' } });
    expect(result('profile.unlock')).toMatchObject({ ok: true, value: { phase: 'unlocked' } });
    expect(result('unknown command').error?.code).toBe('UNKNOWN_COMMAND');
    expect(result('malformed input (wrong fields)').error?.code).toBe('INVALID_INPUT');
    expect(shellRun.find((step) => step.label === 'enroll.complete')!.events.some(online)).toBe(true);

    // The platforms differ in one thing the user is told: the desktop seals the key in the OS key store.
    expect(result('settings.get').value?.keyProtection).toBe('os');
    expect((browserRun.find((step) => step.label === 'settings.get')!.result as { value?: Record<string, unknown> }).value?.keyProtection).toBe('passphraseOnly');

    expect(normalise(browserRun, browser!.relayUrl)).toEqual(normalise(shellRun, shell!.relayUrl));
  }, 180_000);
});

/**
 * The harness's page, without a browser: the bridge script the harness serves, run in a context of its
 * own with the page's address, and a WebSocket that carries the page's origin and its token cookie.
 */
async function harnessPage(harness: Harness, profile: string): Promise<{ bridge: RoundsBridge; events: UiEvent[] }> {
  const page = await fetch(harness.pageUrl(profile));
  const cookie = (page.headers.get('set-cookie') ?? '').split(';')[0]!;
  expect(cookie).toMatch(/^rounds-harness=/);
  const script = await (await fetch(`${harness.url}/harness-bridge.js`)).text();
  class PageWebSocket extends NodeWebSocket {
    constructor(url: string) {
      super(url, { headers: { cookie }, origin: harness.url });
    }
  }
  const context = createContext({ location: new URL(harness.pageUrl(profile)), WebSocket: PageWebSocket, URLSearchParams, console });
  runInContext('globalThis.window = globalThis;', context);
  runInContext(script, context);
  const bridge = (context as { rounds?: RoundsBridge }).rounds;
  if (!bridge) throw new Error('the harness bridge did not set window.rounds');
  const events: UiEvent[] = [];
  bridge.subscribe((event) => events.push(event));
  return { bridge, events };
}
