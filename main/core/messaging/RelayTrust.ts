import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { Agent } from 'undici';

/**
 * Which certificate authorities a workstation trusts for its relay: the public ones Node ships, plus the
 * hospital's own from the org policy's `relayCaFile` (Electron ignores NODE_EXTRA_CA_CERTS once the
 * nodeOptions fuse is off, so this is the one way to trust an internal CA). Certificates are public data.
 */
export interface RelayTrust {
  /** The extra CA certificates, PEM, each checked to parse. */
  readonly extraCas: readonly string[];
}

export class RelayTrustError extends Error {
  constructor(readonly path: string, reason: string) {
    super(`${path}: ${reason}`);
    this.name = 'RelayTrustError';
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Reads a PEM bundle of CA certificates; a missing file, or one with no valid certificate, is an error that says why. */
export function readRelayCaFile(path: string): RelayTrust {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new RelayTrustError(path, `cannot be read (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`);
  }
  const pems = text.match(PEM_CERTIFICATE) ?? [];
  if (pems.length === 0) throw new RelayTrustError(path, 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  pems.forEach((pem, index) => {
    try {
      new X509Certificate(pem);
    } catch (error) {
      throw new RelayTrustError(path, `certificate ${index + 1} is not a valid X.509 certificate (${(error as Error).message})`);
    }
  });
  return { extraCas: pems };
}

/** The CA list for TLS connections to the relay: Node's public roots and the extra ones. */
export function relayCaList(trust: RelayTrust): string[] {
  return [...rootCertificates, ...trust.extraCas];
}

const agents = new WeakMap<RelayTrust, Agent>();

/** One HTTP connection pool per trust setting, shared by every relay client that uses it. */
export function relayDispatcher(trust: RelayTrust): Agent {
  let agent = agents.get(trust);
  if (!agent) {
    agent = new Agent({ connect: { ca: relayCaList(trust) } });
    agents.set(trust, agent);
  }
  return agent;
}
