import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { policyPath } from '../../main/core/policy/loadPolicy';
import { OrgPolicySchema } from '../../shared/policy';
import { ROUNDS_VERSION } from '../../shared/version';
import { writeChecksums } from '../../scripts/checksums';
import { packRelay } from '../../scripts/packRelay';

/*
 * docs/deployment.md cannot rot: every command block in it says how it is tested, and is.
 *   <!-- guide-test: run id=NAME -->  Linux commands, run in order and exactly as written, as root on a fresh
 *                                     system: a private mount namespace whose /etc, /usr and /var are
 *                                     throw-away overlays of this machine's, and a private network namespace
 *                                     with only its own loopback (the relay's port 8443 cannot collide with
 *                                     anything listening on this machine). Between blocks the test drives
 *                                     workstations (the real app core) against the relay the guide set up.
 *   <!-- guide-test: static -->       commands for Windows, macOS and installers that need a build this
 *                                     machine cannot make: each line is checked against electron-builder.yml
 *                                     and the app's policy paths by a rule below; a line no rule knows fails.
 */
const ROOT = resolve('.');
const GUIDE = 'docs/deployment.md';
const guide = readFileSync(GUIDE, 'utf8');

interface Block { readonly line: number; readonly lang: string; readonly mode: 'run' | 'static' | null; readonly id: string | null; readonly text: string }

function blocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const found: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w+)\s*$/.exec(lines[i] ?? '');
    if (!open) continue;
    const marker = /^<!-- guide-test: (run|static)(?: id=([a-z-]+))? -->$/.exec(lines[i - 1] ?? '');
    const end = lines.indexOf('```', i + 1);
    found.push({ line: i + 1, lang: open[1] ?? '', mode: (marker?.[1] as Block['mode']) ?? null, id: marker?.[2] ?? null, text: lines.slice(i + 1, end).join('\n') });
    i = end;
  }
  return found;
}

const COMMAND_LANGS = new Set(['sh', 'bash', 'shell', 'console', 'powershell', 'ps1', 'bat', 'cmd']);
const all = blocks(guide);
const runBlocks = all.filter((b) => b.mode === 'run');

/** Lines of a block as commands: continuation lines joined, comments and blank lines dropped. */
function commands(block: Block): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  let pending = '';
  block.text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/\s+#\s.*$/, '').trim();
    if (line === '' || line.startsWith('#')) return;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    out.push({ line: block.line + 1 + index, text: pending + line });
    pending = '';
  });
  return out;
}

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
];

describe('the deployment guide (docs/deployment.md)', () => {
  it('says for every command block how the test exercises it', () => {
    const commandBlocks = all.filter((b) => COMMAND_LANGS.has(b.lang));
    expect(commandBlocks.length).toBeGreaterThan(10);
    expect(commandBlocks.filter((b) => b.mode === null).map((b) => `${GUIDE}:${b.line}`), 'blocks without a <!-- guide-test: … --> marker').toEqual([]);
    expect(runBlocks.map((b) => b.id)).toEqual(['install', 'service', 'tls', 'start', 'accounts', 'policy', 'keys', 'backup', 'restore', 'revoke', 'rotate', 'export']);
  });

  it('names every policy field, each with its default, and the policy it installs is valid and complete', () => {
    const fields = Object.keys(OrgPolicySchema.shape);
    for (const field of fields) expect(guide, field).toMatch(new RegExp(`^\\| \`${field}\` \\|`, 'm'));
    const example = /<<'EOF'\n([\s\S]*?)\nEOF/.exec(runBlocks.find((b) => b.id === 'policy')?.text ?? '')?.[1] ?? '';
    const policy = JSON.parse(example) as Record<string, unknown>;
    expect(Object.keys(policy).sort()).toEqual([...fields].sort());
    expect(OrgPolicySchema.safeParse(policy).success).toBe(true);
  });

  it('checks each Windows, macOS and installer command against electron-builder.yml and the policy paths', () => {
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

  /** A fresh system of its own: its own mounts, and its own network with nothing but a loopback interface. */
  const NAMESPACES = ['--mount', '--net', '--propagation', 'private', '--fork'];
  const missing = [
    typeof process.getuid === 'function' && process.getuid() === 0 ? null : 'it must run as root (it makes private mount and network namespaces)',
    ...['unshare', 'nsenter', 'setpriv', 'systemd-analyze', 'openssl', 'curl', 'ip'].map((tool) => (spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0 ? null : `${tool} is not installed`)),
  ].filter((reason): reason is string => reason !== null);
  if (missing.length === 0 && spawnSync('unshare', [...NAMESPACES, 'true']).status !== 0) missing.push('this machine does not allow private mount and network namespaces');
  if (missing.length > 0) console.log(`the deployment guide's Linux commands are not run here: ${missing.join('; ')}`);

  const work = mkdtempSync(join(tmpdir(), 'rounds-guide-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

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

  it.skipIf(missing.length > 0)('runs every Linux command on a fresh system, and the site works: install, TLS, accounts, policy, backup, restore, revocation, key rotation, exports', async () => {
    const { tarball } = await packRelay(join(work, 'relay'));
    const site = join(work, 'site');
    mkdirSync(site);
    mkdirSync(join(work, 'ovl'));
    copyFileSync(tarball, join(site, tarball.split('/').pop() ?? ''));
    copyFileSync(join(work, 'relay', 'SHA256SUMS'), join(site, 'SHA256SUMS'));
    // The service user reads nothing of these, but must be able to stand in the folder the guide runs in.
    for (const dir of [work, site]) chmodSync(dir, 0o755);

    const script = [
      'set -euo pipefail',
      `W=${JSON.stringify(work)}`,
      `ROOT=${JSON.stringify(ROOT)}`,
      // A fresh network: only loopback, up (a new namespace starts with it down), and nothing else listening.
      'ip link set lo up',
      // A fresh system: /etc, /usr and /var are overlays that vanish with the namespace.
      'mount -t tmpfs tmpfs "$W/ovl"',
      'for d in etc usr var; do mkdir -p "$W/ovl/$d/upper" "$W/ovl/$d/work"; mount -t overlay overlay -o "lowerdir=/$d,upperdir=$W/ovl/$d/upper,workdir=$W/ovl/$d/work" "/$d"; done',
      // The site's DNS: the relay's name is this machine.
      'echo "127.0.0.1 rounds.hospital.example" >> /etc/hosts',
      'export PATH="$ROOT/test/fixtures/guide-shims:$PATH" GUIDE_STATE="$W/state" GUIDE_LOG="$W/guide.log" GUIDE_POLICY=/etc/rounds/policy.json',
      "trap 'systemctl stop rounds-relay > /dev/null 2>&1 || true' EXIT",
      'hook() { (cd "$ROOT" && env -u NODE_EXTRA_CA_CERTS node --import tsx test/fixtures/guideWorkstation.ts "$@"); }',
      'cd "$W/site"',
      ...runBlocks.flatMap((b) => [
        `echo "::block ${b.id} (${GUIDE}:${b.line})"`,
        `{\n${b.text}\n} 2>&1 | tee -a "$GUIDE_LOG"`,
        ...(AFTER[b.id ?? ''] ? [`echo "::after ${b.id}"`, `{\n${AFTER[b.id ?? '']}\n} 2>&1 | tee -a "$GUIDE_LOG"`] : []),
        `echo; echo "::done ${b.id}"`,
      ]),
    ].join('\n');
    writeFileSync(join(work, 'guide.sh'), script);
    // No registry is reachable from the namespace: npm takes the relay's dependencies from its cache (npm ci filled it).
    const run = spawnSync('unshare', [...NAMESPACES, 'bash', join(work, 'guide.sh')], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', npm_config_offline: 'true' } });
    const output = `${run.stdout}\n${run.stderr}`;
    const done = [...output.matchAll(/^::done (\S+)$/gm)].map((m) => m[1]);
    const relayLog = (() => {
      try {
        return readFileSync(join(work, 'state', 'rounds-relay.log'), 'utf8').slice(-3000);
      } catch {
        return '(the relay never started)';
      }
    })();
    expect(done, `the guide stopped after ${done.at(-1) ?? 'nothing'}:\n${output.slice(-6000)}\n--- the relay's journal:\n${relayLog}`).toEqual(runBlocks.map((b) => b.id));
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
  }, 360_000);
});
