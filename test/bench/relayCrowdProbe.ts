/**
 * The crowd's random-pairs saturated shape alone, for profiling and A/B runs of the relay (issue 16):
 * `npx tsx test/bench/relayCrowdProbe.ts [devices] [runs] [pairs]` provisions the devices once, then for each run
 * starts a fresh relay, connects them all and keeps 1,000 messages in flight between random pairs (with `pairs`,
 * device i to device i + devices / 2, the 100-device shape), and prints the rate, p99 and the relay's CPU a message.
 * With `crowd` in place of `pairs` each run is the bench's crowd sequence (relayCrowd.ts `crowdRun`: 50 pairs and random
 * pairs saturated, then 2,000 msg/s between random pairs), and prints the fixed rate's p50 and p99.
 *
 * RELAY_PROBE_BUNDLES=DIR,DIR,... alternates relay bundles built earlier (under dist/, as RELAY_BENCH_BUNDLE) from
 * run to run, so that builds compare on one machine state, and RELAY_PROBE_FLAGS='FLAGS|FLAGS|...' Node options added
 * after the unit's (as RELAY_BENCH_NODE_FLAGS; with bundles, every combination in turn); RELAY_BENCH_CPU_PROFILE=DIR has each relay write a V8
 * CPU profile (of the whole run); RELAY_PROBE_SYSCALLS=FILE counts the relay's system calls while measuring (`perf stat` on its
 * tracepoints, into FILE.RUN), as calls a message. For profiling and comparing builds, not for the bench's figures.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { pinThisProcess, raiseOpenFileLimit } from './benchMachine';
import type { BenchSystem } from './loadRun';
import { ProsodySystem } from './prosody';
import { crowdRun, randomSaturatedRun } from './relayCrowd';
import { RoundsSystem } from './relayLoad';
import { saturatedRun, withDevices, withServer } from './relayShapes';

const devices = Number(process.argv[2] ?? 10_000);
const runs = Number(process.argv[3] ?? 1);
const pairs = process.argv[4] === 'pairs';
const crowd = process.argv[4] === 'crowd';
const IN_FLIGHT = 1000;
const CROWD_RATE = 2000;
/** The bench's times; RELAY_PROBE_WARMUP_MS=N warms up longer (N ms), until the relay's caches hold most devices. */
const TIMES = { warmupMs: Number(process.env.RELAY_PROBE_WARMUP_MS ?? 1500), saturatedMs: 6000, fixedMs: 5000 };
const SYSCALLS = ['fsync', 'fdatasync', 'pwrite64', 'pread64', 'fcntl', 'writev', 'read', 'getrandom'];
const bundles = process.env.RELAY_PROBE_BUNDLES?.split(',') ?? [process.env.RELAY_BENCH_BUNDLE ?? ''];
const flagSets = process.env.RELAY_PROBE_FLAGS?.split('|') ?? [process.env.RELAY_BENCH_NODE_FLAGS ?? ''];
const variants = bundles.flatMap((bundle) => flagSets.map((flags) => ({ bundle, flags })));

/** Counts the relay's system calls from now for `ms` (perf stat on its syscall tracepoints); resolves with them by name. */
function countSyscalls(pid: number, ms: number, file: string): Promise<Map<string, number>> {
  const child = spawn('perf', ['stat', '-x', ',', '-o', file, '-e', SYSCALLS.map((name) => `syscalls:sys_enter_${name}`).join(','), '-p', String(pid)], { stdio: 'ignore' });
  setTimeout(() => child.kill('SIGINT'), ms);
  return new Promise((resolve) => child.once('exit', () => {
    const counts = new Map<string, number>();
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const [count, , event] = line.split(',');
      if (event?.startsWith('syscalls:sys_enter_')) counts.set(event.slice('syscalls:sys_enter_'.length), Number(count));
    }
    resolve(counts);
  }));
}

raiseOpenFileLimit();
const unpin = pinThisProcess('1');
// RELAY_PROBE_SYSTEM=prosody runs Prosody (the bench's peer, no durability) in the same shapes instead of the relay.
const system: BenchSystem & { dispose(): void } = process.env.RELAY_PROBE_SYSTEM === 'prosody' ? ProsodySystem.create(devices) : await RoundsSystem.create(devices);
try {
  for (let run = 1; run <= runs; run++) {
    const { bundle, flags } = variants[(run - 1) % variants.length]!;
    if (bundle) process.env.RELAY_BENCH_BUNDLE = bundle;
    process.env.RELAY_BENCH_NODE_FLAGS = flags;
    const name = `${bundle || 'this build'}${flags ? ` ${flags}` : ''}`;
    const countsFile = process.env.RELAY_PROBE_SYSCALLS;
    let syscalls: Promise<Map<string, number>> | undefined;
    if (crowd) {
      const { pairedSaturated, saturated, fixed } = await withServer(system, (server) => crowdRun(server, devices, 100, IN_FLIGHT, CROWD_RATE, Number(process.env.RELAY_PROBE_SUSTAINABLE_SHARE ?? 0.8), TIMES));
      const perMessage = (cpu: number, rate: number) => Math.round((cpu * 1e6) / rate);
      console.log(`run ${run} ${system.name === 'prosody' ? 'prosody' : name}: ${devices} devices, 50 pairs ${Math.round(pairedSaturated.rate)} msg/s (${perMessage(pairedSaturated.serverCpu, pairedSaturated.rate)} µs a message), random pairs ${Math.round(saturated.rate)} msg/s (${perMessage(saturated.serverCpu, saturated.rate)} µs; ${(saturated.rate / pairedSaturated.rate).toFixed(2)} of 50 pairs); at ${CROWD_RATE} msg/s p50 ${fixed?.p50.toFixed(2)} ms, p99 ${fixed?.p99.toFixed(2)} ms, server ${fixed?.serverCpuMsPer1000.toFixed(0)} ms CPU per 1,000`);
      continue;
    }
    const result = await withServer(system, (server) => withDevices(server, devices, (clients) => {
      if (countsFile) setTimeout(() => (syscalls = countSyscalls(server.pid, TIMES.saturatedMs, `${countsFile}.${run}`)), TIMES.warmupMs);
      return (pairs ? saturatedRun : randomSaturatedRun)(server, clients, IN_FLIGHT, TIMES);
    }));
    const counts = await syscalls;
    // The syscall window is the measuring window (saturatedMs after the warm-up), as near as two timers get.
    const perMessage = counts ? `; a message: ${[...counts].map(([name, n]) => `${name} ${(n / (result.rate * TIMES.saturatedMs / 1000)).toFixed(2)}`).join(', ')}` : '';
    console.log(`run ${run} ${name}: ${devices} devices, ${pairs ? 'pairs' : 'random pairs'}: ${Math.round(result.rate)} msg/s, p99 ${result.p99.toFixed(1)} ms, relay CPU ${Math.round(result.serverCpu * 100)} % = ${Math.round((result.serverCpu * 1e6) / result.rate)} µs a message, load client ${Math.round(result.loadCpu * 100)} %${perMessage}`);
  }
} finally {
  system.dispose();
  unpin();
}
