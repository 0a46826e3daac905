import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readBundle, writeBundle } from '../../server/audit/bundleFiles';
import { openStore } from '../../server/openStore';
import { adminCli, addUser, exportAudit } from '../fixtures/relayProcess';
import { useTempDirs } from '../fixtures/tempDirs';

/*
 * Issue 15: every exported record's RFC 9162 inclusion proof passes a verifier the project did not write.
 * Go's golang.org/x/mod (Debian's golang-golang-x-mod-dev, installed by .ci/run, read offline from
 * /usr/share/gocode) opens the checkpoint with sumdb/note, reads the bundle's C2SP tiles with
 * tlog.TileHashReader (which checks them against the signed tree) and proves each record with
 * tlog.ProveRecord and tlog.CheckRecord, unchanged (test/fixtures/tlog-verify/main.go).
 */

const GOPATH = '/usr/share/gocode';
const goEnv = (cache: string) => ({ ...process.env, GO111MODULE: 'off', GOPATH, GOCACHE: cache, GOFLAGS: '' });

describe('audit bundles read by a standard RFC 9162 verifier (Go\'s x/mod tlog)', () => {
  const dir = useTempDirs();
  let verifier: string;

  beforeAll(() => {
    if (spawnSync('go', ['version']).status !== 0 || !existsSync(join(GOPATH, 'src/golang.org/x/mod/sumdb/tlog'))) {
      throw new Error('Go and golang.org/x/mod are needed (Debian: golang-go golang-golang-x-mod-dev); .ci/run installs them');
    }
    verifier = join(dir(), 'tlog-verify');
    const built = spawnSync('go', ['build', '-o', verifier, '.'], { cwd: 'test/fixtures/tlog-verify', env: goEnv(dir()), encoding: 'utf8' });
    expect(built.status, built.stderr).toBe(0);
  }, 120_000);

  const goVerify = (bundle: string) => spawnSync(verifier, [bundle], { encoding: 'utf8' });

  it('proves every record of a relay bundle, and of one user\'s export, from the tiles and the signed checkpoint', async () => {
    const data = dir();
    addUser(data, 'user7', 'Clinician 7');
    // More than one tile of records, so proofs cross tiles and a partial tile of level 1 is read.
    const store = openStore(data);
    for (let i = 0; i < 3; i++) await store.appendAudit(Array.from({ length: 200 }, (_, j) => ({ type: 'login.failure' as const, actor: 'anonymous@127.0.0.1', subject: '', details: { username: `user${j % 9}`, attempt: i * 200 + j } })));
    await store.close();
    const whole = exportAudit(data, join(dir(), 'whole'));
    const lines = readFileSync(join(whole, 'events.jsonl'), 'utf8').trim().split('\n').length;
    expect(lines).toBeGreaterThan(256);
    const go = goVerify(whole);
    expect(go.stderr).toBe('');
    expect(go.stdout).toMatch(new RegExp(`^OK ${lines} records of rounds\\.relay/[0-9a-f]{16} proven in its signed tree of \\d+`));

    const one = exportAudit(data, join(dir(), 'one'), ['--user', 'user7']);
    const oneLines = readFileSync(join(one, 'events.jsonl'), 'utf8').trim().split('\n').length;
    expect(oneLines).toBeGreaterThan(0);
    expect(goVerify(one).stdout).toMatch(new RegExp(`^OK ${oneLines} records`));
  });

  it('fails a record that was altered, and a tile that was', () => {
    const data = dir();
    for (const name of ['ana', 'ben']) addUser(data, name, `Clinician ${name}`);
    expect(adminCli(['user', 'deactivate', '--data', data, 'ben']).status).toBe(0);
    const bundle = exportAudit(data, join(dir(), 'bundle'));
    const files = readBundle(bundle);
    const altered = new Map(files);
    altered.set('events.jsonl', Buffer.from(readFileSync(join(bundle, 'events.jsonl'), 'utf8').replace('"ben"', '"bex"')));
    const alteredDir = join(dir(), 'altered');
    writeBundle(alteredDir, altered);
    const caught = goVerify(alteredDir);
    expect(caught.status, caught.stderr).toBe(1);
    expect(caught.stderr).toMatch(/FAIL: record \d+: /);

    const tile = [...files.keys()].find((n) => n.startsWith('tile/0/'));
    expect(tile).toBeDefined();
    const badTile = new Map(files);
    const bytes = Buffer.from(files.get(tile!)!);
    bytes[0] = bytes[0]! ^ 1;
    badTile.set(tile!, bytes);
    const badTileDir = join(dir(), 'bad-tile');
    writeBundle(badTileDir, badTile);
    expect(goVerify(badTileDir).status).toBe(1);
  });
});
