import { execFileSync } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Clinician, RelayProcess, addUser, removeDir, tempDataDir } from '../fixtures/relayProcess';

/*
 * Issue 13's transport findings against the real `rounds-server serve`: every listener closes silent and
 * half-spoken connections (WebSockets excepted), and TLS is AEAD-only, 1.2 at least, 1.3 on request.
 */

const PASSWORD = 'correct horse battery staple 7';
/** Short deadlines so the test need not wait long (the defaults are 10 s and 120 s). */
const FAST_TIMEOUTS = ['--header-timeout-seconds', '1', '--idle-timeout-seconds', '2'];

/** Opens a raw TCP socket, optionally sends `bytes`, then nothing; resolves with the ms until the relay closed it. */
function silentSocket(port: number, bytes?: string, limitMs = 8000): Promise<number | 'still open'> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = tcpConnect(port, '127.0.0.1', () => {
      if (bytes) socket.write(bytes);
    });
    socket.resume();
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(Date.now() - started));
    setTimeout(() => {
      socket.destroy();
      resolve('still open');
    }, limitMs).unref();
  });
}

/** A TLS handshake with the given client options: the protocol and suite agreed, or the error code. */
function handshake(port: number, ca: Buffer, options: ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, ...options }, () => {
      resolve(`${socket.getProtocol() ?? '?'} ${socket.getCipher().name}`);
      socket.end();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(`refused ${error.code ?? error.message}`));
  });
}

function ecdsaCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  // As the deployment guide makes it: ECDSA P-256.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

describe('relay connections: timeouts on every listener', () => {
  let dir: string;
  let relay: RelayProcess;

  beforeAll(async () => {
    dir = tempDataDir();
    relay = await RelayProcess.start(dir, FAST_TIMEOUTS);
  });

  afterAll(async () => {
    await relay.stop();
    removeDir(dir);
  });

  it('closes a plain-HTTP connection that sends nothing, or half a header, within the header timeout', async () => {
    const [silent, half] = await Promise.all([silentSocket(relay.port), silentSocket(relay.port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ')]);
    expect(silent).not.toBe('still open');
    expect(half).not.toBe('still open');
    expect(silent).toBeLessThan(5000);
    expect(half).toBeLessThan(5000);
    expect((await fetch(`${relay.url}/healthz`)).status).toBe(200);
  });

  it('keeps an authenticated WebSocket open past the idle timeout (the hub heartbeat watches it)', async () => {
    const alice = await Clinician.enroll(relay.url, 'alice', addUser(dir, 'alice', 'Dr. Alice Moreau'), PASSWORD);
    const socket = new WebSocket(`${relay.url.replace('http', 'ws')}/v1/ws`, { headers: { authorization: `Bearer ${alice.session.credential}` } });
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    await new Promise((resolve) => setTimeout(resolve, 4500));
    expect(socket.readyState).toBe(WebSocket.OPEN);
    const pong = new Promise((resolve) => socket.on('message', (data) => {
      if ((JSON.parse(data.toString()) as { type: string }).type === 'pong') resolve(true);
    }));
    socket.send(JSON.stringify({ type: 'ping', requestId: '1' }));
    await expect(pong).resolves.toBe(true);
    socket.close();
  });
});

describe('relay TLS: AEAD suites only, TLS 1.2 at least, TLS 1.3 only on request', () => {
  let dir: string;
  let cert: string;
  let key: string;

  beforeAll(() => {
    dir = tempDataDir();
    ({ cert, key } = ecdsaCertificate(dir));
  });

  afterAll(() => removeDir(dir));

  it('refuses CBC and SHA-1 suites, accepts TLS 1.2 ECDHE with AES-GCM or ChaCha20', async () => {
    const data = tempDataDir();
    const relay = await RelayProcess.start(data, ['--tls-cert', cert, '--tls-key', key]);
    try {
      const ca = readFileSync(cert);
      const tls12 = (ciphers: string) => handshake(relay.port, ca, { ciphers, maxVersion: 'TLSv1.2' });
      expect(await tls12('ECDHE-ECDSA-AES128-SHA')).toMatch(/^refused/);
      expect(await tls12('ECDHE-ECDSA-AES256-SHA')).toMatch(/^refused/);
      expect(await tls12('ECDHE-ECDSA-AES128-SHA256')).toMatch(/^refused/);
      expect(await tls12('ECDHE-ECDSA-AES256-SHA384')).toMatch(/^refused/);
      expect(await tls12('ECDHE-ECDSA-AES128-GCM-SHA256')).toBe('TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256');
      expect(await tls12('ECDHE-ECDSA-AES256-GCM-SHA384')).toBe('TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384');
      expect(await tls12('ECDHE-ECDSA-CHACHA20-POLY1305')).toBe('TLSv1.2 ECDHE-ECDSA-CHACHA20-POLY1305');
      expect(await handshake(relay.port, ca, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' })).toMatch(/^refused/);
      expect(await handshake(relay.port, ca, {})).toMatch(/^TLSv1\.3 /);
    } finally {
      await relay.stop();
      removeDir(data);
    }
  });

  it('closes a TLS connection that never starts its handshake, or stops half-way, within the header timeout', async () => {
    const data = tempDataDir();
    const relay = await RelayProcess.start(data, ['--tls-cert', cert, '--tls-key', key, ...FAST_TIMEOUTS]);
    try {
      // Half a ClientHello: a record header announcing 512 bytes, then nothing.
      const [silent, half] = await Promise.all([silentSocket(relay.port), silentSocket(relay.port, '\x16\x03\x01\x02\x00\x01')]);
      expect(silent).toBeLessThan(5000);
      expect(half).toBeLessThan(5000);
    } finally {
      await relay.stop();
      removeDir(data);
    }
  });

  it('with --tls-min-version 1.3, refuses TLS 1.2 altogether', async () => {
    const data = tempDataDir();
    const relay = await RelayProcess.start(data, ['--tls-cert', cert, '--tls-key', key, '--tls-min-version', '1.3']);
    try {
      const ca = readFileSync(cert);
      expect(await handshake(relay.port, ca, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' })).toMatch(/^refused/);
      expect(await handshake(relay.port, ca, { minVersion: 'TLSv1.3' })).toMatch(/^TLSv1\.3 TLS_/);
    } finally {
      await relay.stop();
      removeDir(data);
    }
  });
});
