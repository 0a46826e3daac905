/**
 * Prosody (Debian's package) as the peer server of the relay benchmark: installed if missing, run from a
 * config and data directory of its own in a temp directory, c2s without TLS on a loopback port, offline
 * storage on, message archive and carbons off, rate limits off. Started with spawn, stopped by its pid.
 * Account passwords are throwaway benchmark secrets: never logged.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../fixtures/rsyslogReceiver';
import { serverCommandPrefix } from './benchMachine';
import { DRAIN_MAX_MS, sleep, within, type BenchSystem, type ServerUnderTest } from './loadRun';
import { XmppSocket } from './xmppLoad';

/** Prosody's virtual host; `localhost` keeps the data directory's host folder name unescaped. */
export const PROSODY_HOST = 'localhost';
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;

export class ProsodyError extends Error {
  constructor(readonly code: 'PROSODY_MISSING' | 'PROSODY_START_FAILED', message: string) {
    super(message);
    this.name = 'ProsodyError';
  }
}

/** Prosody with `deviceCount` accounts, a fresh process and data directory for every run. */
export class ProsodySystem implements BenchSystem {
  readonly name = 'prosody';

  private constructor(private readonly template: string, readonly deviceCount: number) {}

  /** Installs prosody if missing and writes the accounts. */
  static create(deviceCount: number): ProsodySystem {
    ensureProsodyInstalled();
    return new ProsodySystem(prosodyAccountsTemplate(deviceCount), deviceCount);
  }

  async start(): Promise<ServerUnderTest> {
    const dir = mkdtempSync(join(tmpdir(), 'rounds-prosody-run-'));
    let prosody: ProsodyProcess;
    try {
      prosody = await ProsodyProcess.start(dir, this.template);
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    let stopping = false;
    const exited = new Promise<never>((_resolve, reject) => {
      prosody.child.once('exit', (code, signal) => {
        if (!stopping) reject(new Error(`prosody exited during the run (${code ?? signal}): ${prosody.output}`));
      });
    });
    exited.catch(() => undefined);
    const userOf = (device: number) => prosodyAccount(device).user;
    return {
      pid: prosody.pid,
      exited,
      connect: (index, onMessage) => XmppSocket.connect(prosody.port, PROSODY_HOST, prosodyAccount(index), userOf, onMessage),
      // Prosody has no per-message answer: it handles one stream's stanzas in order, so a ping answered after the last send means all are stored.
      storeOffline: async (from, to, count) => {
        for (let i = 0; i < count; i++) from.send(randomUUID(), to);
        await within((from as XmppSocket).ping(), DRAIN_MAX_MS, 'storing the offline messages');
      },
      stop: async () => {
        stopping = true;
        await prosody.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }

  dispose(): void {
    rmSync(this.template, { recursive: true, force: true });
  }
}

/** The account of benchmark device `index`: user name and password. */
export function prosodyAccount(index: number): { user: string; password: string } {
  return { user: `u${index}`, password: `bench-${index}` };
}

/** Installs Debian's `prosody` with apt-get when the `prosody` command is missing, saying what it does. */
export function ensureProsodyInstalled(): void {
  if (prosodyVersion() !== undefined) return;
  const apt = (args: string[]) => {
    console.log(`  prosody is missing: running apt-get ${args.join(' ')}`);
    return spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
  };
  if (!apt(['install', '-y', 'prosody']) && !(apt(['update']) && apt(['install', '-y', 'prosody']))) {
    throw new ProsodyError('PROSODY_MISSING', 'prosody is not installed and apt-get could not install it (run `apt-get install -y prosody` as root)');
  }
  if (prosodyVersion() === undefined) throw new ProsodyError('PROSODY_MISSING', 'apt-get installed prosody but the `prosody` command is still missing');
}

/**
 * `Prosody <Debian version>`, or undefined when the `prosody` command is missing. (`prosody --version`
 * prints its version but then does not exit.)
 */
export function prosodyVersion(): string | undefined {
  if (spawnSync('sh', ['-c', 'command -v prosody']).status !== 0) return undefined;
  const version = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'prosody'], { encoding: 'utf8' });
  return `Prosody ${version.status === 0 ? version.stdout.trim() : '(version unknown)'}`;
}

/**
 * A data directory with `count` accounts (u0 .. u<count-1>) in Prosody's internal storage, written
 * directly: `prosodyctl register` starts Lua once per account. Plain-text passwords (auth
 * `internal_plain`) keep logins as cheap as the relay's bearer credentials.
 */
export function prosodyAccountsTemplate(count: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'rounds-prosody-'));
  const accounts = join(dir, PROSODY_HOST, 'accounts');
  mkdirSync(accounts, { recursive: true });
  for (let i = 0; i < count; i++) {
    const { user, password } = prosodyAccount(i);
    writeFileSync(join(accounts, `${user}.dat`), `return {\n\t["password"] = ${JSON.stringify(password)};\n};\n`);
  }
  return dir;
}

/** The whole config: nothing from /etc/prosody is read. */
function prosodyConfig(dir: string, port: number): string {
  const path = (name: string) => JSON.stringify(join(dir, name));
  return `-- Written by the Rounds relay benchmark for one run.
run_as_root = true
daemonize = false
pidfile = ${path('prosody.pid')}
data_path = ${path('data')}
log = { { levels = { min = "error" }, to = "file", filename = ${path('prosody.log')} } }
-- Nagle off, as the relay's WebSocket server has it.
network_settings = { nagle = false }
authentication = "internal_plain"
storage = "internal"
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
c2s_ports = { ${port} }
c2s_interfaces = { "127.0.0.1" }
c2s_direct_tls_ports = { }
-- Auto-loaded besides these: presence, message, iq, offline (on), c2s. No s2s, http, mam, carbons or limits.
modules_enabled = { "roster", "saslauth", "disco", "ping" }
modules_disabled = { "s2s", "s2s_auth_certs" }
VirtualHost "${PROSODY_HOST}"
`;
}

export class ProsodyProcess {
  /** The end of what Prosody printed (its log goes to a file in its directory). */
  output = '';

  private constructor(readonly child: ChildProcess, readonly port: number, readonly dir: string) {}

  get pid(): number {
    return this.child.pid ?? Number.NaN;
  }

  /**
   * Copies `accountsTemplate` into a fresh data directory under `dir`, writes the config and starts
   * Prosody pinned to core 0; resolves once its c2s port takes connections.
   */
  static async start(dir: string, accountsTemplate: string): Promise<ProsodyProcess> {
    cpSync(accountsTemplate, join(dir, 'data'), { recursive: true });
    mkdirSync(join(dir, 'certs'));
    const port = await freePort();
    const config = join(dir, 'prosody.cfg.lua');
    writeFileSync(config, prosodyConfig(dir, port));
    const [command = 'prosody', ...args] = [...serverCommandPrefix(), 'prosody', '--config', config];
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const prosody = new ProsodyProcess(child, port, dir);
    const keep = (chunk: Buffer) => (prosody.output = (prosody.output + chunk.toString()).slice(-2000));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const deadline = performance.now() + START_TIMEOUT_MS;
    while (!(await accepts(port))) {
      if (child.exitCode !== null || child.signalCode !== null || performance.now() > deadline) {
        await prosody.stop();
        throw new ProsodyError('PROSODY_START_FAILED', `prosody did not start on port ${port}: ${prosody.output}`);
      }
      await sleep(50);
    }
    return prosody;
  }

  /** SIGTERM to its pid, SIGKILL if it has not exited after STOP_TIMEOUT_MS. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    if (await Promise.race([exited.then(() => true), sleep(STOP_TIMEOUT_MS, false).then(() => false)])) return;
    this.child.kill('SIGKILL');
    await exited;
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
