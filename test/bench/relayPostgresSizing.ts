/**
 * Issue 17: how many relay instances and database cores a 20,000-device hospital needs, worked out from
 * the CPU per message measured at the fixed rate (with three instances: the cost of crossing instances
 * included). The assumptions are written here and printed with the figures, so that a site with other
 * numbers can redo the sum.
 */
import { median, type BenchRow } from './measure';
import { POSTGRES, relaysOf } from './postgresSystem';
import type { FixedRateRun } from './relayShapes';

export const HOSPITAL = {
  devices: 20_000,
  /**
   * Envelopes per device per hour in the busiest hour (sent and received together: a message to a
   * conversation with three other devices is three envelopes).
   */
  peakPerDeviceHour: 60,
  /** Within that hour, bursts (a shift change, a major incident) reach this multiple of its average rate. */
  burst: 3,
  /** No core is planned busier than this at the burst (room for garbage collection, reconnect storms, backups). */
  coreBusy: 0.5,
  /** Relay instances beyond those the load needs: one may be lost or patched without the rest exceeding `coreBusy`. */
  spareInstances: 1,
} as const;

/** The sizing rows, and the lines that explain them. */
export function sizingRows(suite: string, fixed: readonly FixedRateRun[]): { rows: BenchRow[]; explanation: string[] } {
  const { devices, peakPerDeviceHour, burst, coreBusy, spareInstances } = HOSPITAL;
  const designRate = (devices * peakPerDeviceHour * burst) / 3600;
  const relayMs = fixed.length === 0 ? Number.NaN : median(fixed.map((r) => relaysOf(r.componentCpuMsPer1000))) / 1000;
  const postgresMs = fixed.length === 0 ? Number.NaN : median(fixed.map((r) => r.componentCpuMsPer1000[POSTGRES] ?? Number.NaN)) / 1000;
  /** Cores busy at the design rate, then planned at `coreBusy`: a relay instance is one Node process, about one core. */
  const cores = (msPerMessage: number) => (designRate * msPerMessage) / 1000 / coreBusy;
  const instances = Math.max(1, Math.ceil(cores(relayMs))) + spareInstances;
  const databaseCores = Math.max(1, Math.ceil(cores(postgresMs)));
  const assumption = `${devices.toLocaleString('en-US')} devices x ${peakPerDeviceHour} envelopes/device/hour peak x ${burst} burst = ${Math.round(designRate)} msg/s; cores planned at ${coreBusy * 100} % busy`;
  const explanation = [
    `sizing: ${assumption}`,
    `  relay: ${relayMs.toFixed(3)} ms CPU per message -> ${cores(relayMs).toFixed(2)} cores -> ${instances} instances (one core each, ${spareInstances} spare for a lost or patched instance)`,
    `  PostgreSQL: ${postgresMs.toFixed(3)} ms CPU per message -> ${cores(postgresMs).toFixed(2)} cores -> ${databaseCores} database cores (and a standby of the same size for failover)`,
  ];
  return {
    explanation,
    rows: [
      { suite, name: `sizing, ${devices.toLocaleString('en-US')}-device hospital: relay instances`, unit: 'instances', ours: instances, goal: `from ${relayMs.toFixed(3)} ms relay CPU/msg; ${assumption}; +${spareInstances} spare` },
      { suite, name: `sizing, ${devices.toLocaleString('en-US')}-device hospital: PostgreSQL cores`, unit: 'cores', ours: databaseCores, goal: `from ${postgresMs.toFixed(3)} ms PostgreSQL CPU/msg; ${assumption}` },
    ],
  };
}
