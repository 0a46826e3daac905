// Type-checks every area with its own tsconfig (see tsconfig.json): the areas see different libs and
// types, which is what makes the layer boundaries real for the compiler. Areas without sources yet are
// reported and skipped.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const areas = ['shared', 'main/core', 'main/electron', 'renderer', 'server', 'test'];

function hasSources(dir: string): boolean {
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules') continue;
    const path = join(dir, entry);
    if (statSync(path).isDirectory() ? hasSources(path) : /\.(ts|tsx)$/.test(entry)) return true;
  }
  return false;
}

let failed = false;
for (const area of areas) {
  if (!hasSources(area)) {
    console.log(`typecheck ${area}: no sources yet, skipped`);
    continue;
  }
  const result = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', area], { stdio: 'inherit' });
  console.log(`typecheck ${area}: ${result.status === 0 ? 'ok' : 'FAILED'}`);
  if (result.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
