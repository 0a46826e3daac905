/**
 * The machine side of the server benchmarks: pinning the server under test to core 0 and the load to
 * core 1, the open-file limit, and what /proc says about a server process (CPU time, resident memory).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, fsyncSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleRelay } from '../../scripts/packRelay';
import { median } from './measure';

/** Open files the servers and the load client may hold: 10,000 devices need as many sockets on each side. */
const OPEN_FILES = 65_536;
/** /proc/PID/stat counts CPU time in clock ticks of 1/100 s on Linux (`getconf CLK_TCK`). */
const TICKS_PER_SECOND = 100;

/**
 * The relay as hospital IT runs it: the bundle `npm run pack:relay` ships (scripts/packRelay.ts), built once
 * per bench under dist/ (so that it finds node_modules), not the sources through tsx (which alone costs
 * tens of MiB of memory and start-up CPU that no installed relay has); the path of its script. The bench gives
 * it the systemd unit's environment (`relayUnitEnvironment`). RELAY_BENCH_BUNDLE=DIR runs a bundle built
 * earlier into DIR/bin instead (under dist/, to A/B a change against the build before it).
 */
const bundled = new Map<string, Promise<string>>();
export function bundledRelayScript(): Promise<string> {
  // By the bundle asked for: a probe may alternate builds from run to run (RELAY_BENCH_BUNDLE set anew).
  const earlier = process.env.RELAY_BENCH_BUNDLE ?? '';
  let script = bundled.get(earlier);
  if (!script) {
    script = (async () => {
      const bin = earlier ? join(resolve(earlier), 'bin') : join(repositoryRoot(), 'dist/bench-relay/bin');
      if (!earlier) await bundleRelay(bin);
      return join(bin, 'rounds-server.mjs');
    })();
    bundled.set(earlier, script);
  }
  return script;
}

const repositoryRoot = (): string => fileURLToPath(new URL('../..', import.meta.url));

/** The drop-in docs/deployment.md (section 11) adds to the unit on every relay machine of a site on PostgreSQL. */
export const POSTGRES_DROP_IN = 'deploy/rounds-relay-postgres.conf';

/**
 * The environment the systemd unit (deploy/rounds-relay.service) and the drop-ins given (paths in the repository)
 * set, read as systemd reads them: every `Environment=NAME=VALUE` line in order, a later value of a name replacing
 * an earlier one. The bench runs the relay with the same: NODE_OPTIONS as Node options, the rest through `env`.
 */
export function relayUnitEnvironment(dropIns: readonly string[] = []): { nodeOptions: string[]; environment: string[] } {
  const values = new Map<string, string>();
  for (const file of ['deploy/rounds-relay.service', ...dropIns]) {
    for (const [, name, value] of readFileSync(join(repositoryRoot(), file), 'utf8').matchAll(/^Environment=([A-Z_]+)=(.*)$/gm)) values.set(name as string, (value as string).trim());
  }
  const nodeOptions = values.get('NODE_OPTIONS')?.split(/\s+/).filter(Boolean) ?? [];
  values.delete('NODE_OPTIONS');
  return { nodeOptions, environment: [...values].map(([name, value]) => `${name}=${value}`) };
}

/** Pinning needs two cores and taskset; without either the runs share cores (and say so). */
export function canPin(): boolean {
  return cpus().length >= 2 && spawnSync('taskset', ['--version']).status === 0;
}

/**
 * The command prefix that starts a server on core 0 with the raised open-file limit (`prlimit` and
 * `taskset` both exec the command, so the child's pid is the server's own).
 */
export function serverCommandPrefix(): string[] {
  const limit = spawnSync('prlimit', ['--version']).status === 0 ? ['prlimit', `--nofile=${openFileLimit()}`] : [];
  return [...limit, ...(canPin() ? ['taskset', '-c', '0'] : [])];
}

/** Raises this process's open-file limit (`ulimit -n`) to its hard limit: the bench's business, not the relay's code. */
export function raiseOpenFileLimit(): void {
  const limit = openFileLimit();
  const raised = spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${limit}:${limit}`], { encoding: 'utf8' });
  console.log(raised.status === 0 ? `  open-file limit (ulimit -n) of the load client and the servers: ${limit}` : `  could not raise the open-file limit: ${raised.stderr.trim() || 'prlimit is missing'}`);
}

/** The hard limit, up to OPEN_FILES (containers may deny raising it even to root). */
function openFileLimit(): number {
  const hard = Number(spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim());
  return Number.isFinite(hard) ? Math.min(hard, OPEN_FILES) : OPEN_FILES;
}

/** Pins every thread of this process to `cpuList`; returns a function that restores the old affinity. */
export function pinThisProcess(cpuList: string): () => void {
  if (!canPin()) {
    console.log('  taskset or a second core is missing: servers and load client share cores');
    return () => undefined;
  }
  const pid = String(process.pid);
  const mask = /affinity mask: ([0-9a-f]+)/.exec(spawnSync('taskset', ['-p', pid], { encoding: 'utf8' }).stdout)?.[1];
  spawnSync('taskset', ['-a', '-p', '-c', cpuList, pid]);
  return () => {
    if (mask) spawnSync('taskset', ['-a', '-p', mask, pid]);
  };
}

/** Other processes on the two cores skew every figure here (latency most): say so up front. */
export function warnIfBusy(): void {
  const load = loadavg()[0] ?? 0;
  if (load > 0.5) console.log(`  the machine is busy (load average ${load.toFixed(1)}): expect noisy figures, latency most`);
}

/** User + system CPU time of process `pid` and all its threads so far, in ms (utime and stime of /proc/PID/stat). */
export function processCpuMs(pid: number): number {
  const fields = statFields(pid);
  if (!fields) throw new Error(`process ${pid} has gone`);
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/**
 * CPU time of process `pid` and every child it has now, in ms: its own utime and stime, the children's it
 * has waited for (cutime, cstime: a PostgreSQL backend that exited), and each live child's utime and stime.
 */
export function processTreeCpuMs(pid: number): number {
  const own = statFields(pid);
  if (!own) return Number.NaN;
  const ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  const children = childPids(pid).reduce((sum, child) => {
    const fields = statFields(child);
    return fields ? sum + Number(fields[11]) + Number(fields[12]) : sum;
  }, 0);
  return ((ticks + children) * 1000) / TICKS_PER_SECOND;
}

/** The processes whose parent is `pid` now (field 4 of /proc/PID/stat), found by reading every /proc/PID/stat. */
export function childPids(pid: number): number[] {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number).filter((candidate) => statFields(candidate)?.[1] === String(pid));
}

/**
 * The fields of /proc/PID/stat from field 3 (state) on, or null when the process has gone. The command name
 * (field 2) may hold spaces; the fields after its closing parenthesis start at field 3.
 */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Pins process `pid`, its threads and its children now to `cpuList` (children forked later inherit it); false when pinning is not possible here. */
export function pinProcessTree(pid: number, cpuList: string): boolean {
  if (!canPin()) return false;
  return [pid, ...childPids(pid)].every((each) => spawnSync('taskset', ['-a', '-p', '-c', cpuList, String(each)]).status === 0);
}

/** Resident memory of process `pid` (VmRSS), in MiB. */
export function residentMiB(pid: number): number {
  const kib = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return kib === undefined ? Number.NaN : Number(kib) / 1024;
}

/** CPU time this process (the load client) spends from now until the returned function is called, as a share of one core. */
export function loadClientCpu(): () => number {
  const start = process.cpuUsage();
  const startedAt = performance.now();
  return () => {
    const used = process.cpuUsage(start);
    return (used.user + used.system) / 1000 / (performance.now() - startedAt);
  };
}

/**
 * One fsync of a freshly written 4 KiB page in the temp directory (where the servers keep their data), in
 * ms: the median of `count`. The relay's latency goal allows Prosody's plus one of these.
 */
export function fsyncMs(count = 50): number {
  const dir = mkdtempSync(join(tmpdir(), 'rounds-fsync-'));
  const page = Buffer.alloc(4096, 1);
  const fd = openSync(join(dir, 'page'), 'w');
  try {
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      writeSync(fd, page, 0, page.length, 0);
      const start = performance.now();
      fsyncSync(fd);
      times.push(performance.now() - start);
    }
    return median(times);
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}
