/**
 * The relay suite's rows for issue 16's two shapes at hospital size: 10,000 devices connected, mostly idle, with
 * messages between random pairs (relayCrowd.ts), the relay and then Prosody in the same shapes (one run each: a
 * crowd takes a minute), and the reconnect storm after a restart with all of them enrolled and envelopes queued
 * (relayStorm.ts; the relay alone: Prosody keeps no queue to drain).
 */
import type { BenchRow } from './measure';
import { crowdRun } from './relayCrowd';
import { ProsodySystem } from './prosody';
import { RoundsSystem } from './relayLoad';
import { percent, withServer, type RunTimes } from './relayShapes';
import { queueWhileDown, stormRun } from './relayStorm';

const SUITE = 'relay';
/** Issue 16: between random pairs at this rate with 10,000 connected, p99 under 50 ms. */
const CROWD_RATE = 2000;
const CROWD_P99_GOAL_MS = 50;
/** Issue 16: every device back online with its queue drained within 30 s of the restart. */
const STORM_GOAL_SECONDS = 30;
const PER_DEVICE_GOAL_KIB = 20;
const THROUGHPUT_SHARE_GOAL = 0.8;

/** What the 100-device runs measured, for the comparisons. */
export interface SmallFigures {
  readonly devices: number;
  readonly saturatedRate: number;
  /** Prosody's saturated rate with those devices (the same run). */
  readonly peerSaturatedRate: number;
  readonly idleResidentMiB: number;
  readonly inFlight: number;
  readonly sustainableShare: number;
}

/** `stormMaxMs`: how long the storm may take before the devices not yet drained count as starved. */
export async function hugeRows(devices: number, small: SmallFigures, times: RunTimes, stormMaxMs: number): Promise<BenchRow[]> {
  const started = performance.now();
  const crowdSystem = await RoundsSystem.create(devices);
  const provisionSeconds = (performance.now() - started) / 1000;
  const systems: { dispose(): void }[] = [crowdSystem];
  try {
    const peerSystem = ProsodySystem.create(devices);
    systems.push(peerSystem);
    const stormSystem = await crowdSystem.derive(queueWhileDown);
    systems.push(stormSystem);
    const n = devices.toLocaleString('en-US');
    console.log(`  ${n} devices provisioned in ${provisionSeconds.toFixed(1)} s`);
    const crowd = await withServer(crowdSystem, (server) => crowdRun(server, devices, small.devices, small.inFlight, CROWD_RATE, small.sustainableShare, times));
    console.log(`  ${n} devices connected in ${crowd.connectSeconds.toFixed(1)} s (load client CPU ${percent(crowd.connectLoadCpu)}), relay ${crowd.idleResidentMiB.toFixed(0)} MiB idle; saturated ${Math.round(crowd.pairedSaturated.rate)} msg/s over ${small.devices / 2} pairs (p99 ${crowd.pairedSaturated.p99.toFixed(1)} ms), ${Math.round(crowd.saturated.rate)} msg/s, p99 ${crowd.saturated.p99.toFixed(1)} ms between random pairs, relay CPU ${percent(crowd.saturated.serverCpu)}, load client CPU ${percent(crowd.saturated.loadCpu)}`);
    if (crowd.fixed) console.log(`  ${n} devices, ${CROWD_RATE} msg/s between random pairs: p50 ${crowd.fixed.p50.toFixed(2)} ms, p99 ${crowd.fixed.p99.toFixed(2)} ms, ${Math.round(crowd.fixed.serverCpuMsPer1000)} ms relay CPU per 1,000, load client CPU ${percent(crowd.fixed.loadCpu)}`);
    else console.log(`  not run: ${CROWD_RATE} msg/s is above ${small.sustainableShare * 100}% of the saturated rate with ${n} devices`);
    const peer = await withServer(peerSystem, (server) => crowdRun(server, devices, small.devices, small.inFlight, CROWD_RATE, small.sustainableShare, times));
    console.log(`  prosody, ${n} devices: saturated ${Math.round(peer.pairedSaturated.rate)} msg/s over ${small.devices / 2} pairs, ${Math.round(peer.saturated.rate)} msg/s between random pairs (p99 ${peer.saturated.p99.toFixed(1)} ms, server CPU ${percent(peer.saturated.serverCpu)}, load client CPU ${percent(peer.saturated.loadCpu)})${peer.fixed ? `; ${CROWD_RATE} msg/s between random pairs: p50 ${peer.fixed.p50.toFixed(2)} ms, p99 ${peer.fixed.p99.toFixed(2)} ms, ${Math.round(peer.fixed.serverCpuMsPer1000)} ms CPU per 1,000` : ''}`);
    const storm = await withServer(stormSystem, (server) => stormRun(server, devices, stormMaxMs));
    console.log(`  reconnect storm, ${n} devices, ${storm.envelopes.toLocaleString('en-US')} queued: all drained in ${storm.allDrainedSeconds.toFixed(1)} s (median device ${storm.medianSeconds.toFixed(1)} s), ${storm.connectAttempts} connects, ${storm.shed} shed, ${storm.failed} failed otherwise${describeFailures(storm.failures)}, ${storm.starved} starved; relay CPU ${storm.relayCpuSeconds.toFixed(1)} s, ${storm.relayResidentMiB.toFixed(0)} MiB; load client CPU ${percent(storm.loadCpu)}`);

    const label = `${n} devices connected`;
    const met = (ok: boolean) => (ok ? 'met' : 'not met');
    const perDeviceKiB = ((crowd.idleResidentMiB - small.idleResidentMiB) * 1024) / (devices - small.devices);
    const row = (name: string, unit: string, ours: number, goal = 'informational'): BenchRow => ({ suite: SUITE, name, unit, ours, goal });
    /** A row beside Prosody's figure in the same shape (a cost ratio: > 1 when the relay is worse). */
    const compared = (name: string, unit: string, ours: number, bare: number, better: 'higher' | 'lower', goal = 'informational'): BenchRow => (
      { suite: SUITE, name, unit, ours, bare, ratio: better === 'higher' ? bare / ours : ours / bare, goal }
    );
    const fixedName = (p: string) => `latency ${p} at ${CROWD_RATE.toLocaleString('en-US')} msg/s between random pairs, ${label}`;
    const stormName = `reconnect storm, ${n} devices (${storm.envelopes.toLocaleString('en-US')} queued)`;
    const share = (rate: number, of: number) => (rate / of).toFixed(2);
    const throughputGoal = (rate: number, peerRate: number) => `within ${Math.round((1 - THROUGHPUT_SHARE_GOAL) * 100)} % of ${small.devices} devices (${Math.round(small.saturatedRate)}): ${met(rate >= THROUGHPUT_SHARE_GOAL * small.saturatedRate)} (${share(rate, small.saturatedRate)}; Prosody ${share(peerRate, small.peerSaturatedRate)} of its ${Math.round(small.peerSaturatedRate)})`;
    return [
      compared(`online, saturated, ${label} (${small.devices / 2} pairs busy, the rest idle)`, 'msg/s', crowd.pairedSaturated.rate, peer.pairedSaturated.rate, 'higher', throughputGoal(crowd.pairedSaturated.rate, peer.pairedSaturated.rate)),
      compared(`online, saturated, ${label} (random pairs, ${small.inFlight.toLocaleString('en-US')} in flight)`, 'msg/s', crowd.saturated.rate, peer.saturated.rate, 'higher', throughputGoal(crowd.saturated.rate, peer.saturated.rate)),
      compared(`server CPU per message, saturated, ${label} (random pairs)`, 'µs', (crowd.saturated.serverCpu * 1e6) / crowd.saturated.rate, (peer.saturated.serverCpu * 1e6) / peer.saturated.rate, 'lower'),
      compared(`latency p99 at saturation, ${label} (random pairs)`, 'ms', crowd.saturated.p99, peer.saturated.p99, 'lower'),
      compared(fixedName('p50'), 'ms', crowd.fixed?.p50 ?? Number.NaN, peer.fixed?.p50 ?? Number.NaN, 'lower', crowd.fixed ? 'informational' : 'not run: above the saturated rate'),
      compared(fixedName('p99'), 'ms', crowd.fixed?.p99 ?? Number.NaN, peer.fixed?.p99 ?? Number.NaN, 'lower', crowd.fixed ? `< ${CROWD_P99_GOAL_MS} ms: ${met(crowd.fixed.p99 < CROWD_P99_GOAL_MS)}` : 'not run: above the saturated rate'),
      row(`relay resident memory, ${label}, idle`, 'MiB', crowd.idleResidentMiB),
      row(`relay memory per additional idle device (${small.devices} to ${n})`, 'KiB', perDeviceKiB, `< ${PER_DEVICE_GOAL_KIB} KiB: ${met(perDeviceKiB < PER_DEVICE_GOAL_KIB)}`),
      row(`load client CPU while saturated, ${label}`, '% of a core', 100 * crowd.saturated.loadCpu, `< 90 % (not the bottleneck): ${met(crowd.saturated.loadCpu < 0.9)}`),
      row(`${stormName}: all back online and drained`, 's', storm.allDrainedSeconds, `< ${STORM_GOAL_SECONDS} s: ${met(storm.allDrainedSeconds < STORM_GOAL_SECONDS)}`),
      row(`${stormName}: median device back and drained`, 's', storm.medianSeconds),
      row(`${stormName}: slowest device back and drained`, 's', storm.slowestSeconds),
      row(`${stormName}: devices starved (not drained in ${stormMaxMs / 1000} s)`, 'devices', storm.starved, `none: ${met(storm.starved === 0)}`),
      row(`${stormName}: connects shed (503, Retry-After)`, 'connects', storm.shed, `informational: of ${storm.connectAttempts} attempts, ${storm.failed} failed otherwise`),
      row(`${stormName}: relay CPU`, 's', storm.relayCpuSeconds),
      row(`${stormName}: load client CPU`, '% of a core', 100 * storm.loadCpu),
    ];
  } finally {
    for (const system of systems) system.dispose();
  }
}

/** ` (read ECONNRESET: 12, ...)`: what the failures other than shedding were. */
function describeFailures(failures: ReadonlyMap<string, number>): string {
  return failures.size === 0 ? '' : ` (${[...failures].map(([what, count]) => `${what}: ${count}`).join(', ')})`;
}
