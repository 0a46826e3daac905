/**
 * The browser harness (development and tests; not shipped):
 *   npm run web -- [--port 5170] [--data DIR] [--policy FILE]
 * starts an embedded relay on loopback, serves the built renderer at http://127.0.0.1:PORT/?profile=NAME,
 * and gives each profile name its own real main/core (RoundsApp, with its own encrypted profiles in
 * DIR/workstations/NAME), bridged to the page over a loopback WebSocket with the same contract the
 * Electron preload exposes. A fresh DIR also gets three demo accounts, whose enrollment codes it prints.
 */
import { Command } from 'commander';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import { z } from 'zod';
import { createRoundsApp, type Platform } from '../main/core/app/createRoundsApp';
import type { RoundsApp } from '../main/core/app/RoundsApp';
import { loadPolicy, policyPath } from '../main/core/policy/loadPolicy';
import { ConfPreferences } from '../main/core/storage/Preferences';
import { contentSecurityPolicy } from '../main/core/web/contentSecurityPolicy';
import { serveStatic } from '../main/core/web/staticFiles';
import type { RelayServer } from '../server/RelayServer';
import { ATTACHMENT_CHUNK_BYTES } from '../shared/attachmentContract';
import { describeError } from '../shared/errors';
import { BridgeRequestSchema, type BridgeReply, type BridgeRequest } from '../shared/bridge';
import type { CommandName, CommandResult } from '../shared/contract';
import type { OrgPolicy } from '../shared/policy';
import { startEmbeddedRelay } from './embeddedRelay';
import { PageRedirectDoor } from '../main/core/auth/PageRedirectDoor';
import { OidcConfigSchema, type OidcConfigInput } from '../server/auth/oidc/OidcConfig';
import { DEFAULT_CONFIG } from '../server/RelayConfig';
import { buildHarnessBridge, buildRenderer } from './renderer';

export const DEMO_ACCOUNTS = [
  { username: 'amoreau', displayName: 'Dr. Alice Moreau' },
  { username: 'bokafor', displayName: 'Nurse Bob Okafor' },
  { username: 'cnguyen', displayName: 'Dr. Carol Nguyen' },
] as const;

/** The app's CSP, except that the page may talk to its own origin (the bridge's WebSocket). */
const HARNESS_CSP = contentSecurityPolicy("'self'");
const ProfileName = z.string().regex(/^[A-Za-z0-9_-]{1,40}$/);
const TOKEN_COOKIE = 'rounds-harness';

/** The value of one cookie in a Cookie header, if present. */
function cookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

/**
 * A workstation in a browser tab: what the page cannot give the core, it does not get. No OS key store
 * (the passphrase alone wraps each profile's key), no OS clipboard, idle time, lock signals or
 * notifications (the page shows what it shows from the core's events).
 */
export function browserPlatform(dataDir: string, policy: OrgPolicy, ssoDoor: PageRedirectDoor | null = null): Platform {
  return { dataDir, policy, preferences: new ConfPreferences(dataDir), keyProtector: null, systemIdleSeconds: null, clipboard: null, notifications: null, osLockSignals: null, ssoDoor, attachmentDoor: null };
}

/** Where the identity provider sends a harness page back (registered with the relay as a harness redirect URI). */
export const HARNESS_SSO_CALLBACK = '/sso/callback';

export interface HarnessOptions {
  readonly port: number;
  readonly dataDir: string;
  readonly policy: OrgPolicy;
  /** Faster key derivation for tests (never for real use). */
  readonly fastKdf?: boolean;
  /** An already built renderer (tests build it once for several harnesses). */
  readonly rendererDir?: string;
  /**
   * Sign-in with an identity provider (issue 18): the embedded relay's `oidc` section. The harness adds its own
   * callback page (HARNESS_SSO_CALLBACK) to `harnessRedirectUris`; the page navigates to the provider and back.
   */
  readonly oidc?: OidcConfigInput;
}

export interface Harness {
  /** The harness's origin (http://127.0.0.1:PORT). */
  readonly url: string;
  /**
   * This start's secret: only a page opened with it (the printed address carries it, and the page then
   * keeps it in a cookie) may drive a core through /bridge, as Jupyter does with its token.
   */
  readonly token: string;
  /** The address that opens `profile`'s workstation, with the secret. */
  pageUrl(profile: string): string;
  readonly relay: RelayServer;
  readonly relayUrl: string;
  /** Enrollment codes of the demo accounts (only when the data directory was fresh). */
  readonly demoCodes: { username: string; displayName: string; code: string }[];
  close(): Promise<void>;
}

export async function startHarness(options: HarnessOptions): Promise<Harness> {
  const fresh = !existsSync(join(options.dataDir, 'relay'));
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  // The harness listens first: its callback page's address goes into the relay's configuration.
  const server: Server = createServer((request, response) => void serve(request, response));
  await new Promise<void>((resolveListen) => server.listen(options.port, '127.0.0.1', resolveListen));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const origin = `http://127.0.0.1:${port}`;
  const allowedHost = (host: string | undefined) => host === `127.0.0.1:${port}` || host === `localhost:${port}`;
  /** Until everything below exists, requests are turned away. */
  let ready = false;
  const ssoCallback = `${origin}${HARNESS_SSO_CALLBACK}`;
  let started: Awaited<ReturnType<typeof startEmbeddedRelay>>;
  try {
    const relayConfig = options.oidc
      ? { ...DEFAULT_CONFIG, oidc: OidcConfigSchema.parse({ ...options.oidc, harnessRedirectUris: [...(options.oidc.harnessRedirectUris ?? []), ssoCallback] }) }
      : DEFAULT_CONFIG;
    started = await startEmbeddedRelay(join(options.dataDir, 'relay'), 0, true, relayConfig);
  } catch (error) {
    server.close();
    throw error;
  }
  const { relay, url: relayUrl } = started;
  const demoCodes = [];
  if (fresh) {
    for (const account of DEMO_ACCOUNTS) {
      const { enrollmentCode } = await relay.accounts.addUser(account.username, account.displayName, 'clinician');
      demoCodes.push({ ...account, code: enrollmentCode });
    }
  }

  const webDir = options.rendererDir ?? join(options.dataDir, 'web');
  if (!options.rendererDir) await buildRenderer(webDir);
  const bridgeScript = await buildHarnessBridge();
  const index = readFileSync(join(webDir, 'index.html'), 'utf8').replace('<script type="module"', '<script src="./harness-bridge.js"></script>\n    <script type="module"');
  // The embedded relay is the only one: the first-run screen shows it, fixed, as an org policy would.
  const policy: OrgPolicy = { ...options.policy, relayUrl: options.policy.relayUrl ?? relayUrl };
  const apps = new Map<string, RoundsApp>();
  /** Each workstation's way back from the identity provider: the callback page settles the sign-in whose state it carries. */
  const ssoDoors = new Map<string, PageRedirectDoor>();
  const appFor = (name: string) => {
    let app = apps.get(name);
    if (!app) {
      const door = options.oidc ? new PageRedirectDoor(ssoCallback) : null;
      if (door) ssoDoors.set(name, door);
      app = createRoundsApp(browserPlatform(join(options.dataDir, 'workstations', name), policy, door), options.fastKdf ? { kdf: { memoryKiB: 8 * 1024, passes: 1, parallelism: 1 } } : {});
      apps.set(name, app);
    }
    return app;
  };

  // Any local process can reach a loopback port: the secret, not the address, says who may drive a core.
  const token = randomBytes(24).toString('base64url');
  const hasToken = (candidate: string | null | undefined) => {
    const given = Buffer.from(candidate ?? '');
    const expected = Buffer.from(token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
  const serve = async (request: IncomingMessage, response: ServerResponse) => {
    if (!ready) return void response.writeHead(503, { 'content-security-policy': HARNESS_CSP, 'retry-after': '1' }).end('starting');
    if (!allowedHost(request.headers.host)) return void response.writeHead(421, { 'content-security-policy': HARNESS_CSP }).end('wrong host');
    const url = new URL(request.url ?? '/', 'http://x');
    // Back from the identity provider: the workstation whose sign-in has this state takes the redirect, and its
    // page opens again (it then asks its core how the sign-in ended). The code is not logged, and not kept in
    // the page's history (the answer is a redirect, and no-store).
    if (url.pathname === HARNESS_SSO_CALLBACK) {
      const name = [...ssoDoors].find(([, door]) => door.deliver(url.searchParams))?.[0];
      const headers = { 'content-security-policy': HARNESS_CSP, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' };
      if (name === undefined) return void response.writeHead(404, { ...headers, 'content-type': 'text/plain; charset=utf-8' }).end('This sign-in is not known here (it may have expired): start it again from Rounds.');
      return void response.writeHead(303, { ...headers, location: `/?profile=${encodeURIComponent(name)}` }).end();
    }
    // The app's own file serving, with the bridge script and the page that loads it made here.
    const served = await serveStatic(webDir, url.pathname, HARNESS_CSP, { '/index.html': index, '/harness-bridge.js': bridgeScript });
    const headers = Object.fromEntries(served.headers);
    // A page opened with the secret keeps it in a cookie that only this origin's requests carry.
    if (hasToken(url.searchParams.get('token'))) headers['set-cookie'] = `${TOKEN_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`;
    response.writeHead(served.status, headers).end(Buffer.from(await served.arrayBuffer()));
  };

  // A frame carries at most one attachment chunk (base64, ATTACHMENT_CHUNK_BYTES before) and its envelope.
  const sockets = new WebSocketServer({ noServer: true, maxPayload: Math.ceil(ATTACHMENT_CHUNK_BYTES / 3) * 4 + 64 * 1024 });
  server.on('upgrade', (request, socket, head) => {
    const url = new URL(request.url ?? '/', 'http://x');
    const name = ProfileName.safeParse(url.searchParams.get('profile') ?? 'default');
    // Only pages the harness served may drive a core: its own loopback host (not a name an attacker's
    // DNS points here), the same origin, and this start's secret (from the page's cookie).
    const sameOrigin = allowedHost(request.headers.host) && request.headers.origin === `http://${request.headers.host}`;
    const authorised = hasToken(cookie(request.headers.cookie, TOKEN_COOKIE));
    if (url.pathname !== '/bridge' || !name.success || !sameOrigin || !authorised) return void socket.destroy();
    sockets.handleUpgrade(request, socket, head, (ws) => bridge(ws, appFor(name.data)));
  });

  ready = true;
  return {
    url: origin,
    token,
    pageUrl: (profile: string) => `${origin}/?profile=${encodeURIComponent(profile)}&token=${token}`,
    relay,
    relayUrl,
    demoCodes,
    async close() {
      for (const ws of sockets.clients) ws.terminate();
      await new Promise((r) => server.close(r));
      for (const app of apps.values()) await app.close();
      await relay.close();
    },
  };
}

/** One page's connection: commands in, results and the core's events out. A bad frame gets an error, never a crash. */
function bridge(ws: WebSocket, app: RoundsApp): void {
  ws.on('error', () => ws.terminate());
  const reply = (frame: BridgeReply) => ws.send(JSON.stringify(frame));
  const unsubscribe = app.subscribe((event) => reply({ type: 'event', event }));
  ws.on('close', unsubscribe);
  ws.on('message', (data) => {
    let frame: BridgeRequest;
    try {
      frame = BridgeRequestSchema.parse(JSON.parse(String(data)));
    } catch {
      reply({ type: 'result', id: -1, result: { ok: false, error: { code: 'INVALID_INPUT', message: 'malformed bridge frame' } } });
      return;
    }
    // invoke answers every call with a value; should it ever throw, the page still gets an answer and the harness stays up.
    app.invoke(frame.command, frame.input)
      .catch((): CommandResult<CommandName> => ({ ok: false, error: { code: 'INTERNAL', message: 'something went wrong inside Rounds; the details are in the log' } }))
      .then((result) => reply({ type: 'result', id: frame.id, result }), () => undefined);
  });
}

async function main(): Promise<void> {
  const program = new Command('web')
    .description('the Rounds UI in a browser, with an embedded relay (development and tests; loopback only)')
    .option('--port <port>', 'HTTP port on 127.0.0.1', '5170')
    .option('--data <dir>', 'where the relay and the workstations keep their data', '.rounds-data/web')
    .option('--policy <file>', 'an org policy file to apply (default: the machine-wide one, if any)')
    .parse(process.argv);
  const opts = program.opts<{ port: string; data: string; policy?: string }>();
  const policy = loadPolicy(opts.policy ?? policyPath()).policy;
  // Building the renderer takes a while on a slow machine: say so rather than sit silent.
  const started = Date.now();
  console.log('Starting the embedded relay and building the app for the browser (this can take 20 seconds)…');
  const harness = await startHarness({ port: Number(opts.port), dataDir: resolve(opts.data), policy });
  console.log(`Ready in ${Math.round((Date.now() - started) / 1000)} s.`);
  // One page per clinician, named after their username (each profile name is its own workstation).
  console.log('Rounds in the browser, one workstation per page (the addresses carry this start\'s secret: keep them to yourself):');
  for (const d of harness.demoCodes) console.log(`  ${d.displayName}: ${harness.pageUrl(d.username)}\n    username ${d.username}, enrollment code ${d.code}`);
  if (harness.demoCodes.length === 0) {
    const dir = join(resolve(opts.data), 'workstations');
    // Only what could be a profile name (a stray file, or a name with terminal escapes, is not printed).
    const existing = existsSync(dir) ? readdirSync(dir).filter((name) => ProfileName.safeParse(name).success) : [];
    for (const name of existing.length > 0 ? existing : DEMO_ACCOUNTS.map((a) => a.username)) console.log(`  ${name}: ${harness.pageUrl(name)}`);
    console.log(`  (existing data in ${resolve(opts.data)}: the demo accounts ${DEMO_ACCOUNTS.map((a) => a.username).join(', ')} were created on its first run)`);
  }
  console.log(`  Another workstation: the same address with another ?profile= name.`);
  console.log(`Embedded relay: ${harness.relayUrl}. Everything listens on 127.0.0.1 (loopback) only.`);
  console.log('Stop with Ctrl+C.');
  const stop = () => void harness.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(`The harness could not start: ${describeError(error)}`);
    process.exit(1);
  });
}
