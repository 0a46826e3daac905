/**
 * The order in which `vitest run` starts the test files: the slowest first, so that with two workers none of
 * them starts near the end and alone makes the tail of the run. Vitest's own order sorts by the durations of the
 * previous run, which a clean clone (CI) does not have; it then falls back to file size, which started a slow file
 * (PostgresRelayStore.contract.test.ts, then 87 s) 179th of 198, to finish ~20 s after the rest.
 * The files below go first, slowest first; the rest follow in Vitest's own order.
 */
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The files that took 20 s or more, with the seconds each took (2026-12-04, one file at a time on this 2-core
 * machine with other work on it). Only the order matters. A renamed file would lose its place, which
 * test/integration/test-order.test.ts catches; a file that grows slow should be added.
 */
export const MEASURED_SECONDS: Readonly<Record<string, number>> = {
  'test/integration/deployment-guide.test.ts': 85,
  'test/integration/ui-e2e.test.ts': 68,
  'test/integration/relay-at-rest.test.ts': 68,
  'test/integration/audit-export.test.ts': 67,
  'test/integration/audit-restore.test.ts': 62,
  'test/integration/audit-integrity.test.ts': 54,
  'test/integration/ui-urgent.test.ts': 51,
  'test/integration/relay-haproxy.test.ts': 47,
  'test/integration/relay-account-limits.test.ts': 45,
  'server/storage/postgres/PostgresRelayStore.contract.test.ts': 32,
  'test/integration/relay-serve.test.ts': 29,
  'server/audit/eventLinesThreads.test.ts': 26,
  'test/integration/ldap-sync.test.ts': 26,
  'test/integration/audit-export-thread.test.ts': 25,
  'test/integration/relay-scim.test.ts': 24,
  'test/integration/audit-siem.test.ts': 24,
  'test/integration/relay-upn-accounts.test.ts': 23,
  'test/integration/relay-backup.test.ts': 22,
  'test/integration/delivery-limits-client.test.ts': 21,
  'test/integration/relay.test.ts': 21,
};

/** `ordered` with the files of MEASURED_SECONDS first, slowest first; the others after them, in their order. */
export function heaviestFirst<T>(ordered: readonly T[], pathOf: (file: T) => string): T[] {
  return ordered
    .map((file, index) => ({ file, index, seconds: MEASURED_SECONDS[pathOf(file)] ?? 0 }))
    .sort((a, b) => b.seconds - a.seconds || a.index - b.index)
    .map(({ file }) => file);
}

export default class HeaviestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return heaviestFirst(await super.sort(files), (spec) => relative(spec.project.config.root, spec.moduleId).replaceAll('\\', '/'));
  }
}
