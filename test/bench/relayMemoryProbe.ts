/**
 * `npx tsx test/bench/relayMemoryProbe.ts [runs]`: issue 16's memory row alone, for work on the relay's
 * memory. The bundled relay (as the relay bench runs it) with 100 devices connected, 500 msg/s for a few
 * seconds; its resident memory once connected, and after the run what /proc says its resident memory is made of (smaps_rollup: Node's binary and other files
 * mapped in, anonymous memory) and the server CPU per 1,000 messages, each run on a fresh relay.
 * RELAY_BENCH_HEAP_SNAPSHOT=DIR also has each relay write a V8 heap snapshot into DIR at the end of its run.
 */
import { readFileSync } from 'node:fs';
import { residentMiB } from './benchMachine';
import { median } from './measure';
import { RoundsSystem, heapSnapshotSignal } from './relayLoad';
import { fixedRateRun, withDevices, withServer } from './relayShapes';
import { sleep } from './loadRun';

const DEVICES = 100;
const RATE = 500;
// RELAY_PROBE_SECONDS: how long the 500 msg/s run lasts (the full bench's is 1.5 s of warm-up and 5 s).
const TIMES = { warmupMs: 500, saturatedMs: 0, fixedMs: 1000 * Number(process.env.RELAY_PROBE_SECONDS ?? 2) };

/** The kB fields of /proc/PID/smaps_rollup that say what resident memory is, in MiB. */
function residentParts(pid: number): Record<string, number> {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN) / 1024;
  return { rss: field('Rss'), file: field('Rss_File') || field('Shared_Clean') + field('Private_Clean'), anon: field('Anonymous') };
}

const runs = Number(process.argv[2] ?? 3);
const system = await RoundsSystem.create(DEVICES);
const figures: { rss: number; cpu: number }[] = [];
try {
  for (let run = 1; run <= runs; run++) {
    await withServer(system, (server) => withDevices(server, DEVICES, async (clients) => {
      const idle = residentMiB(server.pid);
      const fixed = await fixedRateRun(server, clients, RATE, TIMES);
      const parts = residentParts(server.pid);
      figures.push({ rss: residentMiB(server.pid), cpu: fixed.serverCpuMsPer1000 });
      console.log(`run ${run}: idle ${idle.toFixed(1)} MiB; after: VmRSS ${residentMiB(server.pid).toFixed(1)} MiB (anonymous ${parts.anon!.toFixed(1)}, files ${parts.file!.toFixed(1)}); ${Math.round(fixed.serverCpuMsPer1000)} ms CPU per 1,000; p50 ${fixed.p50.toFixed(2)} ms`);
      if (heapSnapshotSignal()) {
        process.kill(server.pid, heapSnapshotSignal()!);
        await sleep(5000);
      }
    }));
  }
} finally {
  system.dispose();
}
console.log(`median of ${runs}: ${median(figures.map((f) => f.rss)).toFixed(1)} MiB, ${Math.round(median(figures.map((f) => f.cpu)))} ms CPU per 1,000`);
