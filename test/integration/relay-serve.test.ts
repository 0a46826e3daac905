import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chownSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli } from '../../server/cli';
import { loadPolicy } from '../../main/core/policy/loadPolicy';
import { OrgPolicySchema } from '../../shared/policy';
import { RelayServer } from '../../server/RelayServer';
import { openStore } from '../../server/openStore';
import { titleUnless } from '../fixtures/skipReason';
import { RelayProcess, addUser, adminCli, backupTo, openRelayDatabase, removeDir, restoreWith, tempDataDir } from '../fixtures/relayProcess';
import { Workstation, until } from '../fixtures/workstation';

function httpsGet(url: string, ca: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('rounds-server serve', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDataDir();
  });
  afterAll(() => removeDir(dir));

  it('refuses to listen beyond loopback without TLS, and says why', () => {
    const result = adminCli(['serve', '--data', dir, '--host', '0.0.0.0', '--port', '0']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('refusing to listen on 0.0.0.0 without TLS: pass --tls-cert and --tls-key, or bind to 127.0.0.1');
    expect(result.stderr).not.toMatch(/\n\s+at /); // a clear message, not a stack trace
  });

  it('listens with an accept queue deep enough for a reconnect storm (4,096, or what the kernel allows)', async () => {
    const relay = await RelayProcess.start(dir);
    try {
      // For a listening socket, ss reports the backlog as Send-Q.
      const line = execFileSync('ss', ['-ltnH', `sport = :${relay.port}`], { encoding: 'utf8' }).trim();
      const backlog = Number(line.split(/\s+/)[2]);
      const kernelCap = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
      expect(backlog).toBe(Math.min(4096, kernelCap));
    } finally {
      await relay.stop();
    }
  });

  it('serves HTTPS only when given a certificate and key', async () => {
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    const relay = await RelayProcess.start(dir, ['--tls-cert', cert, '--tls-key', key]);
    try {
      expect(relay.url).toMatch(/^https:\/\//);
      const health = await httpsGet(`${relay.url}/healthz`, readFileSync(cert));
      expect(health.status).toBe(200);
      expect(JSON.parse(health.body)).toMatchObject({ status: 'ok' });
      // Plain HTTP on the same port gets nothing useful.
      await expect(fetch(relay.url.replace('https', 'http') + '/healthz').then((r) => r.status)).rejects.toThrow();
    } finally {
      await relay.stop();
    }
  });

  it("lets workstations trust a relay certificate from the hospital's own CA through the policy, and only then", async () => {
    // The hospital's CA, and the relay's certificate it issued.
    const pki = join(dir, 'pki');
    const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore', cwd: dir });
    execFileSync('mkdir', ['-p', pki]);
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=Hospital Root CA', '-keyout', join(pki, 'ca.key'), '-out', join(pki, 'ca.pem'));
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', join(pki, 'relay.key'), '-out', join(pki, 'relay.csr'));
    writeFileSync(join(pki, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    openssl('x509', '-req', '-in', join(pki, 'relay.csr'), '-CA', join(pki, 'ca.pem'), '-CAkey', join(pki, 'ca.key'), '-CAcreateserial', '-days', '1', '-extfile', join(pki, 'san.ext'), '-out', join(pki, 'relay.pem'));
    const data = tempDataDir();
    const relay = await RelayProcess.start(data, ['--tls-cert', join(pki, 'relay.pem'), '--tls-key', join(pki, 'relay.key')]);
    const workstations: Workstation[] = [];
    try {
      const code = addUser(data, 'ward4', 'Ward Four');
      const untrusting = new Workstation(tempDataDir());
      workstations.push(untrusting);
      const refused = await untrusting.fails('enroll.begin', { relayUrl: relay.url, username: 'ward4', enrollmentCode: code });
      expect(refused.code).toBe('UNREACHABLE');
      expect(refused.message).toMatch(/^the relay's certificate is not trusted \(.+\); if it comes from the hospital's own certificate authority, IT sets relayCaFile/);

      const policy = OrgPolicySchema.parse({ relayUrl: relay.url, relayCaFile: join(pki, 'ca.pem') });
      const trusting = new Workstation(tempDataDir(), { policy });
      workstations.push(trusting);
      // Trusted, but asked for under a name the certificate is not for.
      const misnamed = new Workstation(tempDataDir(), { policy: OrgPolicySchema.parse({ relayCaFile: join(pki, 'ca.pem') }) });
      workstations.push(misnamed);
      const notForThisName = await misnamed.fails('enroll.begin', { relayUrl: relay.url.replace('127.0.0.1', 'localhost'), username: 'ward4', enrollmentCode: code });
      expect(notForThisName.message).toMatch(/^the relay's certificate is not for this address \(.+\); check the relay address, or IT must reissue the certificate$/);
      await trusting.enroll(relay.url, 'ward4', code);
      await until(() => trusting.online(), 'the workstation online over WSS with the hospital CA');

      // A policy naming a file that is not a certificate stops the app with the field named.
      const bad = join(pki, 'not-a-ca.pem');
      writeFileSync(bad, 'hello');
      writeFileSync(join(pki, 'policy.json'), JSON.stringify({ relayCaFile: bad }));
      expect(() => loadPolicy(join(pki, 'policy.json'))).toThrow(/"relayCaFile": .*holds no PEM certificate/);
      writeFileSync(join(pki, 'policy.json'), JSON.stringify({ relayCaFile: 'ca.pem' }));
      expect(() => loadPolicy(join(pki, 'policy.json'))).toThrow(/"relayCaFile": must be an absolute path/);
    } finally {
      for (const ws of workstations) await ws.app.close();
      await relay.stop();
      removeDir(data);
    }
  });

  it('serves a data directory from one relay at a time, and refuses a restore under a running relay', async () => {
    const data = tempDataDir();
    const relay = await RelayProcess.start(data);
    try {
      expect(readFileSync(join(data, 'relay.pid'), 'utf8').trim()).toBe(String(relay.child.pid));
      const second = adminCli(['serve', '--data', data, '--port', '0']);
      expect(second.status).toBe(1);
      expect(second.stderr).toContain(`another relay (pid ${relay.child.pid}) serves ${data}; stop it first`);
      const backup = join(data, 'b.zip');
      expect(adminCli(['backup', '--data', data, '--out', backup, ...backupTo()]).status).toBe(0);
      const restore = adminCli(['restore', '--data', data, '--from', backup, '--force', ...restoreWith()]);
      expect(restore.status).toBe(1);
      expect(restore.stderr).toContain(`the relay (pid ${relay.child.pid}) is running on ${data}; stop it before restoring`);
    } finally {
      await relay.stop();
      removeDir(data);
    }
    // A relay.pid naming a live process that is not a relay (here init, pid 1: a pid reused after a
    // crash) stops nothing: the claim is a lock the OS dropped with the relay that died.
    const again = tempDataDir();
    writeFileSync(join(again, 'relay.pid'), '1\n');
    const next = await RelayProcess.start(again);
    await next.stop();
    expect(existsSync(join(again, 'relay.pid'))).toBe(false);
    removeDir(again);
    // `serve` makes a data directory that does not exist yet.
    const parent = tempDataDir();
    const fresh = await RelayProcess.start(join(parent, 'new', 'relay-data'));
    await fresh.stop();
    expect(existsSync(join(parent, 'new', 'relay-data', 'relay.db'))).toBe(true);
    removeDir(parent);
  });

  it('finishes an interrupted restore before anything uses the directory', () => {
    const data = tempDataDir();
    addUser(data, 'ward7', 'Ward Seven');
    const backup = join(tempDataDir(), 'b.zip');
    expect(adminCli(['backup', '--data', data, '--out', backup, ...backupTo()]).status).toBe(0);
    // Cut off after the marker, with the database already half replaced.
    writeFileSync(join(data, 'restore-in-progress'), backup);
    writeFileSync(join(data, 'relay.db'), 'half written');
    const refused = adminCli(['user', 'list', '--data', data]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(`a restore into ${data} was interrupted: run the same`);
    // The restore is simply run again (no --force needed to finish one).
    const redone = adminCli(['restore', '--data', data, '--from', backup, ...restoreWith()]);
    expect(redone.status, redone.stderr).toBe(0);
    expect(adminCli(['user', 'list', '--data', data]).stdout).toMatch(/^ward7\t/m);
    removeDir(data);
  });

  const notRoot = process.getuid?.() !== 0 ? 'it needs root (it runs the relay as root on a directory another user owns)' : null;
  it.skipIf(notRoot !== null)(titleUnless('refuses to work on a data directory as another user than its owner (root without sudo -u)', notRoot), () => {
    const data = tempDataDir();
    addUser(data, 'ward8', 'Ward Eight');
    chownSync(data, 65534, 65534);
    const refused = adminCli(['user', 'list', '--data', data]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(`${data} belongs to user id 65534, but this runs as user id 0: run it as the directory's owner (sudo -u rounds-relay rounds-server …)`);
    removeDir(data);
  });

  it("behind a load balancer given to --trust-proxy, each client is throttled and audited at its own address, and cannot pass for another", async () => {
    const refused = adminCli(['serve', '--data', dir, '--port', '0', '--trust-proxy', '10.0.0.0/33']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('not an IP address or CIDR range: 10.0.0.0/33');
    // A range of everything would let every client name its own address.
    for (const everything of ['0.0.0.0/0', '::/0']) expect(adminCli(['serve', '--data', dir, '--port', '0', '--trust-proxy', everything]).stderr).toContain(`not an IP address or CIDR range: ${everything}`);

    // A sign-in with a wrong one-time code, sent through a load balancer on loopback that appends the
    // client's address.
    const wrongCode = (url: string, forwardedFor: string, username = `nobody-${randomUUID().slice(0, 8)}`) => fetch(`${url}/v1/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor },
      body: JSON.stringify({ username, password: 'a wrong guess', totpCode: '000000', device: { kind: 'existing', deviceId: 1 } }),
    }).then(async (response) => ((await response.json()) as { code: string }).code);
    const actors = (data: string) => {
      const db = openRelayDatabase(data);
      try {
        return (db.prepare("SELECT DISTINCT actor FROM audit_log WHERE type = 'login.failure' ORDER BY actor").all() as { actor: string }[]).map((r) => r.actor);
      } finally {
        db.close();
      }
    };

    const data = tempDataDir();
    const relay = await RelayProcess.start(data, ['--trust-proxy', '127.0.0.1', '--throttle-base-ms', '10000']);
    try {
      // One client's wrong codes (at made-up names) slow that client only: 20 free; then, while it must
      // wait, a name gets three more checks, uncounted, and then THROTTLED whatever the code...
      const answers: string[] = [];
      for (let i = 0; i < 20; i++) answers.push(await wrongCode(relay.url, '203.0.113.7'));
      for (let i = 0; i < 4; i++) answers.push(await wrongCode(relay.url, '203.0.113.7', 'target'));
      expect(answers).toEqual([...Array<string>(23).fill('INVALID_CREDENTIALS'), 'THROTTLED']);
      expect(await wrongCode(relay.url, '203.0.113.8', 'target')).toBe('INVALID_CREDENTIALS');
      // ...who cannot pass for another by sending a header of its own: the address the proxy saw counts.
      expect(await wrongCode(relay.url, '203.0.113.8, 203.0.113.7', 'target')).toBe('THROTTLED');
      // What is no address (a proxy passing on a client's words) is not taken: the proxy's own address counts.
      expect(await wrongCode(relay.url, 'anonymous@10.1.1.1 (admin)')).toBe('INVALID_CREDENTIALS');
      expect(actors(data)).toEqual(['anonymous@127.0.0.1', 'anonymous@203.0.113.7', 'anonymous@203.0.113.8']);
    } finally {
      await relay.stop();
      removeDir(data);
    }

    // Without --trust-proxy the header is nobody's word: the connection's address counts.
    const direct = tempDataDir();
    const server = new RelayServer(openStore(direct), undefined, undefined, () => undefined);
    try {
      const url = await server.listen({ host: '127.0.0.1', port: 0 }, 'silent');
      expect(await wrongCode(url, '203.0.113.9')).toBe('INVALID_CREDENTIALS');
      expect(actors(direct)).toEqual(['anonymous@127.0.0.1']);
    } finally {
      await server.close();
      removeDir(direct);
    }
  });

  it('has --help on every subcommand', async () => {
    // The command tree is walked, so a subcommand added later is covered too.
    const all = (c: Command, path: string[]): string[][] => [path, ...c.commands.flatMap((sub) => all(sub, [...path, sub.name()]))];
    const commands = all(buildCli(), []);
    expect(commands.length).toBeGreaterThanOrEqual(14);
    for (const command of commands) {
      let out = '';
      const cli = buildCli();
      const quiet = (c: Command): void => {
        c.exitOverride().configureOutput({ writeOut: (t) => (out += t), writeErr: (t) => (out += t) });
        c.commands.forEach(quiet);
      };
      quiet(cli);
      await expect(cli.parseAsync([...command, '--help'], { from: 'user' })).rejects.toMatchObject({ code: 'commander.helpDisplayed' });
      expect(out, command.join(' ')).toContain('Usage: rounds-server');
    }
  });
});
