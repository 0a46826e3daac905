import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { policyPath } from '../../main/core/policy/loadPolicy';
import { OrgPolicySchema } from '../../shared/policy';
import { ROUNDS_VERSION } from '../../shared/version';
import { writeChecksums } from '../../scripts/checksums';
import { FRESH_SYSTEM_TIMEOUT_MS, GUIDE, blockSteps, blocks, commands, guideUnavailable, packedRelay, runOnFreshSystem, siteWithPackage } from '../fixtures/deploymentGuide';
import { MULTI_RELAY_IDS, multiRelayLabels, multiRelaySetup, multiRelaySteps } from '../fixtures/guideRelayPair';

/*
 * docs/deployment.md cannot rot: every command block in it says how it is tested, and is.
 *   <!-- guide-test: run id=NAME -->  Linux commands, run in order and exactly as written, as root on a fresh
 *                                     system: a private mount namespace whose /etc, /usr and /var are
 *                                     throw-away overlays of this machine's, and a private network namespace
 *                                     with only its own loopback (the relay's port 8443 cannot collide with
 *                                     anything listening on this machine). Between blocks the test drives
 *                                     workstations (the real app core) against the relay the guide set up.
 *                                     Blocks whose id starts with `multi-` (section 11, two relays on
 *                                     PostgreSQL behind HAProxy) run in a second fresh system of their own,
 *                                     after the blocks that install the relay (test/fixtures/guideRelayPair.ts).
 *   <!-- guide-test: static -->       commands for Windows, macOS and installers that need a build this
 *                                     machine cannot make, or that act on another machine: each line is checked
 *                                     against electron-builder.yml, the app's policy paths or the run blocks by
 *                                     a rule below; a line no rule knows fails.
 */
const guide = readFileSync(GUIDE, 'utf8');

const COMMAND_LANGS = new Set(['sh', 'bash', 'shell', 'console', 'powershell', 'ps1', 'bat', 'cmd']);
const all = blocks(guide);
const runBlocks = all.filter((b) => b.mode === 'run');

// What electron-builder will name each installer, from electron-builder.yml (the version left as <version>).
const builder = parse(readFileSync('electron-builder.yml', 'utf8')) as Record<string, Record<string, unknown>>;
const packageName = (JSON.parse(readFileSync('package.json', 'utf8')) as { name: string }).name;
const ARTIFACTS: Record<string, { platform: string; ext: string; arch: string }> = {
  nsis: { platform: 'win', ext: 'exe', arch: 'x64' }, msi: { platform: 'win', ext: 'msi', arch: 'x64' },
  dmg: { platform: 'mac', ext: 'dmg', arch: 'arm64' }, zip: { platform: 'mac', ext: 'zip', arch: 'arm64' }, pkg: { platform: 'mac', ext: 'pkg', arch: 'arm64' },
  AppImage: { platform: 'linux', ext: 'AppImage', arch: 'x86_64' }, deb: { platform: 'linux', ext: 'deb', arch: 'amd64' }, rpm: { platform: 'linux', ext: 'rpm', arch: 'x86_64' },
};
function artifactName(target: string): string {
  const { platform, ext, arch } = ARTIFACTS[target] ?? { platform: '', ext: '', arch: '' };
  const template = (builder[target]?.artifactName ?? builder[platform]?.artifactName) as string | undefined;
  if (!template) throw new Error(`electron-builder.yml sets no artifactName for ${target}`);
  const macros: Record<string, string> = { productName: String(builder.productName), name: packageName, version: '<version>', ext, arch };
  return template.replace(/\$\{(\w+)\}/g, (_, key: string) => macros[key] ?? `\${${key}}`);
}

/** The port the systemd unit serves on. */
const unitPort = /--port (\d+)/.exec(readFileSync('deploy/rounds-relay.service', 'utf8'))?.[1];

/** What section 11 ("Two or more relays") names: its database, the relays' and the balancer's addresses, HAProxy's servers. */
function section11() {
  const text = (id: string) => runBlocks.find((b) => b.id === id)?.text ?? '';
  const relayJson = /relay\.json > \/dev\/null <<'EOF'\n([\s\S]*?)\nEOF/.exec(text('multi-relay'))?.[1] ?? '{}';
  const { url, passwordFile } = (JSON.parse(relayJson) as { database?: { url: string; passwordFile: string } }).database ?? { url: '', passwordFile: '' };
  const parsed = new URL(url);
  const picture = all.find((b) => b.lang === 'text' && b.text.includes('relay1.hospital.example'))?.text ?? '';
  const balancer = /--trust-proxy (\S+)/.exec(text('multi-relay'))?.[1] ?? '';
  return {
    url, passwordFile, balancer, user: parsed.username, database: parsed.pathname.slice(1),
    relayAddresses: [...picture.matchAll(/\((\d+\.\d+\.\d+\.\d+)\)/g)].map((m) => m[1]).filter((a) => a !== balancer),
    pictureAddresses: [...picture.matchAll(/\((\d+\.\d+\.\d+\.\d+)\)/g)].map((m) => m[1]),
    servers: [...text('multi-haproxy').matchAll(/^ +server (\S+) \1\.hospital\.example:8443$/gm)].map((m) => m[1]),
  };
}

/** A static line's rule: what it must match, and the check that makes it true. */
const STATIC_RULES: { pattern: RegExp; check: (m: RegExpExecArray) => void }[] = [
  {
    // Intune/PowerShell: the Windows policy folder, and the policy and CA files in it.
    pattern: /^(?:New-Item -ItemType Directory -Force -Path|Copy-Item -Path "\\\\\S+\\([\w.-]+)" -Destination) "\$env:ProgramData\\Rounds(?:\\([\w.-]+))?"/,
    check: (m) => {
      expect(policyPath('win32', { ProgramData: 'P' }).split(/[\\/]/)).toEqual(['P', 'Rounds', 'policy.json']);
      expect(m[2]).toBe(m[1]);
      expect([undefined, 'policy.json', 'relay-ca.pem']).toContain(m[2]);
    },
  },
  {
    // macOS MDM script: the macOS policy folder, and the policy and CA files in it.
    pattern: /^install (?:-d -m 0755|-m 0644 ([\w.-]+)) "\/Library\/Application Support\/Rounds(?:\/([\w.-]+))?"$/,
    check: (m) => {
      expect(policyPath('darwin', {})).toBe('/Library/Application Support/Rounds/policy.json');
      expect(m[2]).toBe(m[1]);
      expect([undefined, 'policy.json', 'relay-ca.pem']).toContain(m[2]);
    },
  },
  {
    pattern: /^Get-FileHash \.\\(\S+) -Algorithm SHA256$/,
    check: (m) => expect(m[1]).toBe(artifactName('nsis')),
  },
  {
    // NSIS: /S is silent; an assisted (not one-click) installer with perMachine installs for all users.
    pattern: /^\.\\(\S+) \/S$/,
    check: (m) => {
      expect(m[1]).toBe(artifactName('nsis'));
      expect(builder.nsis).toMatchObject({ perMachine: true, oneClick: false });
    },
  },
  {
    pattern: /^msiexec \/i (\S+) \/qn$/,
    check: (m) => {
      expect(m[1]).toBe(artifactName('msi'));
      expect(builder.msi).toMatchObject({ perMachine: true });
    },
  },
  {
    pattern: /^sudo installer -pkg (\S+) -target \/$/,
    check: (m) => {
      expect(m[1]).toBe(artifactName('pkg'));
      expect(builder.pkg).toMatchObject({ installLocation: '/Applications', isRelocatable: false });
    },
  },
  // The host firewall opens the port the unit serves on.
  { pattern: /^sudo firewall-cmd --permanent --add-port=(\d+)\/tcp && sudo firewall-cmd --reload$/, check: (m) => expect(m[1]).toBe(unitPort) },
  { pattern: /^sudo ufw allow (\d+)\/tcp$/, check: (m) => expect(m[1]).toBe(unitPort) },
  { pattern: /^sudo apt install \.\/(\S+)$/, check: (m) => expect(m[1]).toBe(artifactName('deb')) },
  { pattern: /^sudo dnf install \.\/(\S+)$/, check: (m) => expect(m[1]).toBe(artifactName('rpm')) },
  {
    // macOS's shasum (Perl's, on Linux too) checks the SHA256SUMS that `npm run dist` writes, skipping the
    // platforms' installers that were not copied.
    pattern: /^shasum -a 256 --ignore-missing -c SHA256SUMS$/,
    check: () => {
      const dir = mkdtempSync(join(tmpdir(), 'rounds-sums-'));
      try {
        writeFileSync(join(dir, artifactName('dmg').replace('<version>', '1.0.0')), 'dmg bytes');
        writeFileSync(join(dir, 'Rounds-Setup-1.0.0.exe'), 'exe bytes');
        writeChecksums(dir, [join(dir, artifactName('dmg').replace('<version>', '1.0.0')), join(dir, 'Rounds-Setup-1.0.0.exe')]);
        rmSync(join(dir, 'Rounds-Setup-1.0.0.exe'));
        const run = spawnSync('shasum', ['-a', '256', '--ignore-missing', '-c', 'SHA256SUMS'], { cwd: dir, encoding: 'utf8' });
        expect(run.error, 'shasum (Perl, on every Debian) is needed to check the macOS command').toBeUndefined();
        expect(run.status, run.stderr).toBe(0);
        expect(run.stdout).toContain(': OK');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
  // Section 11, lines for other machines: they name what the run blocks make and use.
  {
    // The relays, and only they, may sign in to the database the guide makes, as the role it makes.
    pattern: /^echo "hostssl (\S+) (\S+) ([\d.]+)\/32 scram-sha-256" \| sudo tee -a \/etc\/postgresql\/(\d+)\/main\/pg_hba\.conf$/,
    check: (m) => {
      const { user, database } = section11();
      expect([m[1], m[2]]).toEqual([database, user]);
      expect(section11().relayAddresses).toContain(m[3]);
      if (existsSync('/usr/lib/postgresql')) expect(existsSync(`/usr/lib/postgresql/${m[4]}`), `Debian's PostgreSQL here is not version ${m[4]}`).toBe(true);
    },
  },
  {
    // Debian's units for both: the guide reloads them as their packages install them.
    pattern: /^sudo systemctl reload (postgresql|haproxy)$/,
    check: (m) => expect(readFileSync(`/lib/systemd/system/${m[1]}.service`, 'utf8')).toMatch(/^ExecReload=/m),
  },
  {
    // A file a run block writes into /root goes to another relay, where a run block reads it from there.
    pattern: /^sudo scp (\/root\/[\w.-]+) root@(relay\d)\.hospital\.example:\/root\/$/,
    check: (m) => {
      const multi = runBlocks.filter((b) => b.id?.startsWith('multi-')).map((b) => b.text).join('\n');
      const file = (m[1] ?? '').replaceAll('.', '\\.');
      expect(multi, 'a run block writes it').toMatch(new RegExp(`(?:> |sudo tee )${file}\\b`));
      expect(multi, 'a run block reads it').toMatch(new RegExp(`^sudo (?:install .* |cat )${file}\\b`, 'm'));
      expect(section11().servers).toContain(m[2]);
    },
  },
];

describe('the deployment guide (docs/deployment.md)', () => {
  const singleRelay = runBlocks.filter((b) => !b.id?.startsWith('multi-'));
  const multiRelay = runBlocks.filter((b) => b.id?.startsWith('multi-'));
  const INSTALL = ['install', 'service', 'tls', 'policy'];

  it('says for every command block how the test exercises it', () => {
    const commandBlocks = all.filter((b) => COMMAND_LANGS.has(b.lang));
    expect(commandBlocks.length).toBeGreaterThan(10);
    expect(commandBlocks.filter((b) => b.mode === null).map((b) => `${GUIDE}:${b.line}`), 'blocks without a <!-- guide-test: … --> marker').toEqual([]);
    expect(singleRelay.map((b) => b.id)).toEqual(['install', 'service', 'tls', 'start', 'accounts', 'policy', 'keys', 'backup', 'restore', 'revoke', 'rotate', 'export']);
    expect(multiRelay.map((b) => b.id)).toEqual([...MULTI_RELAY_IDS]);
  });

  it('names every policy field, each with its default, and the policy it installs is valid and complete', () => {
    const fields = Object.keys(OrgPolicySchema.shape);
    for (const field of fields) expect(guide, field).toMatch(new RegExp(`^\\| \`${field}\` \\|`, 'm'));
    const example = /<<'EOF'\n([\s\S]*?)\nEOF/.exec(runBlocks.find((b) => b.id === 'policy')?.text ?? '')?.[1] ?? '';
    const policy = JSON.parse(example) as Record<string, unknown>;
    expect(Object.keys(policy).sort()).toEqual([...fields].sort());
    expect(OrgPolicySchema.safeParse(policy).success).toBe(true);
  });

  it('checks each command for another machine against electron-builder.yml, the policy paths and the run blocks', () => {
    const unknown: string[] = [];
    let checked = 0;
    for (const block of all.filter((b) => b.mode === 'static')) {
      for (const { line, text } of commands(block)) {
        const rule = STATIC_RULES.map((r) => ({ r, m: r.pattern.exec(text) })).find((x) => x.m);
        if (!rule?.m) unknown.push(`${GUIDE}:${line}: ${text}`);
        else {
          rule.r.check(rule.m);
          checked++;
        }
      }
    }
    expect(unknown, 'commands in static blocks that no rule of this test checks').toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(10);
    // The file names the guide mentions in its prose are the ones electron-builder writes, too.
    for (const target of ['dmg', 'zip']) expect(guide).toContain(artifactName(target));
  });

  it('names one database, one password file and one balancer throughout section 11, and every relay in pg_hba.conf and HAProxy', () => {
    const facts = section11();
    const multi = multiRelay.map((b) => b.text).join('\n');
    expect(facts.url).toMatch(/^postgres:\/\/\w+@[\w.-]+:\d+\/\w+$/);
    expect([...multi.matchAll(/--database (\S+)/g)].map((m) => m[1])).toEqual(Array(2).fill(facts.url));
    // Elsewhere the admin commands read the database from the relays' own config file.
    expect(multi).toContain('rounds-server migrate --config /etc/rounds-relay/relay.json');
    expect(multi).toContain(`"url": "${facts.url}"`);
    expect(new Set([...multi.matchAll(/--database-password-file (\S+)/g)].map((m) => m[1]))).toEqual(new Set([facts.passwordFile]));
    expect(multi).toContain(`-m 0640 /root/rounds-database-password ${facts.passwordFile}`);
    expect(multi).toMatch(new RegExp(`createuser ${facts.user}\\n.*createdb --owner ${facts.user} ${facts.database}\\n`));
    expect(facts.pictureAddresses).toContain(facts.balancer);
    const pgHba = all.filter((b) => b.mode === 'static').flatMap((b) => [...b.text.matchAll(/^echo "hostssl \S+ \S+ ([\d.]+)\/32 /gm)].map((m) => m[1]));
    expect(pgHba).toEqual(facts.relayAddresses);
    expect(facts.servers).toEqual(facts.relayAddresses.map((_, i) => `relay${i + 1}`));
    expect(guide).toContain(`/etc/systemd/system/rounds-relay.service.d/database.conf`);
  });

  const missing = guideUnavailable();
  if (missing.length > 0) console.log(`the deployment guide's Linux commands are not run here: ${missing.join('; ')}`);
  const multiMissing = [
    ...missing,
    ...(spawnSync('sh', ['-c', 'command -v pg_ctlcluster && ls /etc/postgresql/*/main/postgresql.conf']).status === 0 ? [] : ["Debian's postgresql (a cluster in /etc/postgresql) is not installed"]),
    ...(spawnSync('sh', ['-c', 'command -v haproxy || test -x /usr/sbin/haproxy']).status === 0 ? [] : ["Debian's haproxy is not installed"]),
  ];
  if (multiMissing.length > missing.length) console.log(`section 11 of the deployment guide is not run here: ${multiMissing.slice(missing.length).join('; ')}`);

  const work = mkdtempSync(join(tmpdir(), 'rounds-guide-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  beforeAll(async () => {
    if (missing.length === 0) await packedRelay(work);
  }, 300_000);

  /** Workstations and checks between the guide's blocks (the app core, against the relay the guide runs). */
  const AFTER: Record<string, string> = {
    service: `systemd-analyze security --offline=true --threshold=20 /etc/systemd/system/rounds-relay.service | tail -n 1`,
    // The relay runs in the unit's sandbox: its data directory is the only writable path.
    start: `
      pid=$(cat "$GUIDE_STATE/rounds-relay.pid")
      in_service() { nsenter --target "$pid" --mount -- "$@"; }
      in_service sh -c 'touch /var/lib/rounds-relay/.sandbox-check && rm /var/lib/rounds-relay/.sandbox-check'
      for path in / /etc /usr/lib /var/lib /var/backups /opt; do
        if in_service touch "$path/.sandbox-check" 2> /dev/null; then echo "the relay could write to $path" >&2; exit 1; fi
      done
      for dir in /root /tmp; do in_service sh -c 'test -z "$(ls -A "$1")"' sh "$dir" || { echo "the relay sees this machine's $dir" >&2; exit 1; }; done
      grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$pid/status" || { echo "the relay may gain privileges" >&2; exit 1; }
      echo "sandbox: only /var/lib/rounds-relay is writable; /root and /tmp are the service's own; no new privileges"`,
    // The clinicians enroll at workstations under the policy just installed (relay address and CA file).
    policy: `
      hook policy /etc/rounds/policy.json
      hook enroll "$W/ws/jdoe-1" jdoe "$W/ws/jdoe-2"
      hook enroll "$W/ws/asmith" asmith
      hook enroll "$W/ws/compliance1" compliance1
      hook send "$W/ws/asmith" jdoe "Bed 12: potassium 5.9, repeat at 14:00" "Bed 12: ECG done, no changes"
      hook export-relay "$W/ws/compliance1" "$W/before-rotation.zip"`,
    // At rest: the database and the backup are encrypted (no SQLite header, no user name in them).
    backup: `
      hook send "$W/ws/asmith" jdoe "Sent after the backup"
      for file in /var/lib/rounds-relay/relay.db /var/lib/rounds-relay/relay.db-wal /var/backups/rounds-relay/relay-*.age; do
        [ -e "$file" ] || continue
        if grep -qa -e 'SQLite format 3' -e jdoe -e 'Dr. Jane Doe' "$file"; then echo "$file is readable without its key" >&2; exit 1; fi
      done
      [ "$(head -n 1 /var/backups/rounds-relay/relay-*.age)" = age-encryption.org/v1 ] || { echo "the backup is not an age file" >&2; exit 1; }
      echo "at rest: the relay database and its backup are encrypted"`,
    restore: `hook expect "$W/ws/jdoe-1" asmith "Bed 12: potassium 5.9, repeat at 14:00" "Bed 12: ECG done, no changes" "!Sent after the backup"`,
    revoke: `hook refused "$W/ws/jdoe-2"`,
    export: `
      hook export-relay "$W/ws/compliance1" "$W/after-rotation.zip"
      rounds-audit verify "$W/after-rotation.zip" --key audit-key.pub.pem --previous "$W/before-rotation.zip"
      rounds-audit verify "$W/before-rotation.zip" --key /var/lib/rounds-relay/audit-keys/*.pub.pem
      if rounds-audit verify "$W/before-rotation.zip" --key audit-key.pub.pem; then echo "the old bundle verified with the new key" >&2; exit 1; fi`,
  };

  // The two fresh systems share nothing (each has its own namespaces, overlays and port 8443) and spend most of
  // their time waiting on the services they start: they run at the same time.
  it.skipIf(missing.length > 0)('runs every Linux command on a fresh system, and the site works: install, TLS, accounts, policy, backup, restore, revocation, key rotation, exports', { timeout: FRESH_SYSTEM_TIMEOUT_MS + 60_000, concurrent: true }, async ({ expect, signal }) => {
    const site = await siteWithPackage(work, 'site');
    const setup = [
      // The site's DNS: the relay's name is this machine.
      'echo "127.0.0.1 rounds.hospital.example" >> /etc/hosts',
      "trap 'systemctl stop rounds-relay > /dev/null 2>&1 || true' EXIT",
    ];
    const run = await runOnFreshSystem({ work, name: 'guide', overlays: ['root'], signal }, site, setup, singleRelay.flatMap((b) => blockSteps(b, AFTER[b.id ?? ''] ? { after: AFTER[b.id ?? ''] } : {})));
    const { output } = run;
    expect(run.done, `the guide stopped after ${run.done.at(-1) ?? 'nothing'}:\n${output.slice(-6000)}\n--- the relay's journal:\n${run.log('rounds-relay')}`).toEqual(singleRelay.map((b) => b.id));
    expect(run.status, output.slice(-4000)).toBe(0);

    // 1. The package's checksum held, and it installed and runs.
    expect(output).toMatch(/^rounds-server-[\d.]+\.tgz: OK$/m);
    expect(output).toMatch(new RegExp(`^${ROUNDS_VERSION.replace(/\./g, '\\.')}$`, 'm'));
    // 2. The unit passed systemd-analyze, started with its own command line, and TLS answers with the certificate made here.
    expect(output).toMatch(/Overall exposure level for rounds-relay\.service: 1\.\d OK/);
    expect(output).toMatch(/audit key fingerprint \(SHA-256\): [0-9a-f]{64}/);
    expect(output).toContain('{"status":"ok","connectedDevices":0}');
    expect(output).toContain('sandbox: only /var/lib/rounds-relay is writable');
    // 3. Accounts, enrolled from real workstations.
    expect(output).toMatch(/^jdoe\tDr\. Jane Doe\tclinician\tpending/m);
    expect(output).toContain('enrolled jdoe on two workstations');
    // 4. The app reads the policy the guide installed.
    expect(output).toMatch(/policy from \/etc\/rounds\/policy\.json: \{.*"relayCaFile":"\/etc\/rounds\/relay-ca\.pem".*"maxInactivityMinutes":10.*"updates":"notify"/);
    // 6. The database key is the relay's own; backups are encrypted to the key pair made for them, and the
    // restore (given its identity) kept what was queued at backup time, and only that.
    expect(output).toMatch(/^600 rounds-relay \/var\/lib\/rounds-relay\/database\.key$/m);
    expect(output).toMatch(/backed up to \/var\/backups\/rounds-relay\/relay-[\d-]+\.age, encrypted to age1[02-9ac-hj-np-z]{58} \(audit log/);
    expect(output).toContain('at rest: the relay database and its backup are encrypted');
    expect(output).toContain('received from asmith: Bed 12: ECG done, no changes | Bed 12: potassium 5.9, repeat at 14:00');
    expect(output).toMatch(/restored into \/var\/lib\/rounds-relay: audit log intact/);
    // 7. The revoked workstation is refused.
    expect(output).toMatch(/^2\t.*\tactive/m);
    expect(output).toMatch(/revoked device 2 of jdoe/);
    expect(output).toContain('relay access refused: UNAUTHENTICATED');
    // 8 and 9. After the restore and the rotation, the app's export is signed by the new key, and its log (begun
    // by the restore) continues the one of the export signed by the old key before the backup: nothing signed was lost.
    expect(output).toMatch(/retired audit key [0-9a-f]{64}/);
    expect(output).toMatch(/VERIFIED: .*whose log continues the previous bundle's after a restore/);
    expect(output).toMatch(/restored from a backup taken at the end of the previous log as it was signed \(\d+ records\): no signed records were lost/);
    expect(output.match(/^VERIFIED: /gm)?.length).toBeGreaterThanOrEqual(3);
    expect(output).toContain('the bundle is signed by a different key than the one given with --key');
  });

  it.skipIf(multiMissing.length > 0)('runs section 11 on a fresh system: PostgreSQL, two relays with one audit key, HAProxy in front, and the site answers with one relay down', { timeout: FRESH_SYSTEM_TIMEOUT_MS + 60_000, concurrent: true }, async ({ expect, signal }) => {
    const site = await siteWithPackage(work, 'site-pair');
    const facts = section11();
    const database = `--database ${facts.url} --database-password-file ${facts.passwordFile}`;
    const install = INSTALL.map((id) => singleRelay.find((b) => b.id === id)).filter((b): b is NonNullable<typeof b> => b !== undefined);
    const run = await runOnFreshSystem({ work, name: 'pair', overlays: ['root'], ownProcesses: true, signal }, site, multiRelaySetup(), multiRelaySteps(install, multiRelay, database));
    const { output } = run;
    const journals = `--- relay1's journal:\n${run.log('rounds-relay')}\n--- relay2's journal:\n${run.log('rounds-relay-2')}`;
    expect(run.done, `section 11 stopped after ${run.done.at(-1) ?? 'nothing'}:\n${output.slice(-6000)}\n${journals}`).toEqual(multiRelayLabels(INSTALL));
    expect(run.status, `${output.slice(-4000)}\n${journals}`).toBe(0);

    // The database: made by the guide's commands, brought to the relay's schema by migrate.
    expect(output).toMatch(/^migrated the database from schema version 0 to \d+$/m);
    // Both relays ready on it, with one org audit key (the second given the first's before its first start).
    const fingerprints = [...output.matchAll(/audit key fingerprint \(SHA-256\): ([0-9a-f]{64})$/gm)].map((m) => m[1]);
    expect(fingerprints).toHaveLength(4);
    expect(fingerprints[1], 'relay2 signs with the key relay1 made').toBe(fingerprints[0]);
    // HAProxy: the guide's configuration is valid, both relays UP, and /readyz answers through it.
    expect(output).toContain('Configuration file is valid');
    expect(output).toMatch(/relays,relay1,UP$/m);
    expect(output).toMatch(/relays,relay2,UP$/m);
    expect(output.match(/\{"ready":true\}/g)?.length).toBeGreaterThanOrEqual(5);
    expect(output).toMatch(/^rounds_relay_connected_devices 0$/m);
    expect(output).toContain("the relays see each workstation's own address");
    // The unit's environment with the PostgreSQL drop-in's Node options in place of the unit's.
    for (const unit of ['rounds-relay', 'rounds-relay-2']) expect(output).toContain(`${unit} runs with MALLOC_ARENA_MAX=2 NODE_OPTIONS=--max-semi-space-size=64 `);
    // An admin command on the shared database; clinicians enrolled through HAProxy write to each other, with
    // both relays up and with relay1 stopped (then through relay2 alone).
    expect(output).toMatch(/^created jdoe \(clinician\)/m);
    expect(output).toContain('received from asmith: Bed 4: sats 91%, on 2 l O2');
    expect(output).toMatch(/^received from jdoe: .*Bed 4: seen, chest X-ray ordered/m);
    expect(output).toContain('relay1 stopped: {"ready":true}');
    expect(output).toContain('HAProxy: relay1 DOWN');
    expect(output).toContain('through relay2 alone: {"ready":true}');
    expect(output).toMatch(/^jdoe\tDr\. Jane Doe\tclinician\tactive/m);
    expect(output).toContain('HAProxy: relay1 UP');
    // The rotation: relay2 holds the new key the rotation on relay1 made (and announced in the shared log).
    const rotated = /^retired audit key ([0-9a-f]{64})/m.exec(output)?.[1];
    expect(rotated).toBe(fingerprints[0]);
    expect(fingerprints[3], "relay2's key after the rotation").toBe(fingerprints[2]);
    expect(fingerprints[3]).not.toBe(fingerprints[0]);
    // pg_dump and pg_restore: the account made after the dump is gone, the one before it is there.
    expect(output).toMatch(/^accounts after the restore: asmith jdoe $/m);
    // ...and with it the audit log: the compliance officer's bundles show the rollback, as the guide says.
    expect(output).toMatch(/^VERIFIED: /m);
    expect(output).toContain("this log is not an extension of the previous bundle's");
    expect(output).toContain('rollback shown: the bundle after the restore does not extend the one exported after the dump');
  });
});
