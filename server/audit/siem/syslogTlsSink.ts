import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { checkServerIdentity, connect, createSecureContext, type SecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { ConfigurationError } from '../../ConfigurationError';
import type { AuditRecord } from '../AuditRecord';
import { SiemDeliveryError } from './SiemDeliveryError';
import type { SyslogTlsConfig } from './SiemConfig';
import type { SiemSink } from './SiemStream';
import { octetCountedFrame, syslogMessage, type SyslogFields } from './syslogFormat';

/** How long the receiver must keep the connection open after the batch, before the relay closes it, for the batch to count. */
const SETTLE_MS = 200;

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * RFC 5425 syslog over TLS to a SIEM's receiver (rsyslog, syslog-ng, Splunk, Elastic, Sentinel's forwarder).
 * The receiver's certificate is verified against the CA file of the config alone, and must name the host
 * (or `serverName`); a client certificate is presented when the config has one.
 *
 * Syslog has no acknowledgements, so each batch gets a connection of its own: the relay writes the batch,
 * waits SETTLE_MS, closes its side, and counts the batch as accepted only when the receiver closes its side
 * in answer, which it does after it has read everything before the close. A receiver that goes away
 * mid-batch resets the connection instead (it had unread data), and the batch is sent again. A receiver
 * that refuses the sender after the TLS handshake (rsyslog's x509 modes check the client certificate
 * then, and with TLS 1.2 the relay has already seen the handshake succeed) closes the connection on its
 * own, before the relay closes its side: that is not an acceptance either.
 */
export class SyslogTlsSink implements SiemSink {
  readonly destination: string;
  readonly #config: SyslogTlsConfig;
  readonly #context: SecureContext;
  readonly #fields: SyslogFields;
  #abandon: ((error: Error) => void) | undefined;

  private constructor(config: SyslogTlsConfig, context: SecureContext, fields: SyslogFields) {
    this.#config = config;
    this.#context = context;
    this.#fields = fields;
    this.destination = `syslog over TLS to ${config.host}:${config.port}`;
  }

  /** Reads the CA file (and the client certificate); a file that is missing or wrong is a ConfigurationError now, not an outage later. */
  static open(config: SyslogTlsConfig, procId = process.pid): SyslogTlsSink {
    const ca = readPem(config.caFile, 'siem.caFile').match(PEM_CERTIFICATE) ?? [];
    if (ca.length === 0) throw new ConfigurationError(`siem.caFile ${config.caFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
    for (const pem of ca) {
      try {
        new X509Certificate(pem);
      } catch (error) {
        throw new ConfigurationError(`siem.caFile ${config.caFile} holds a certificate that cannot be read`, { cause: error });
      }
    }
    let context: SecureContext;
    try {
      // The client key is read here and kept by OpenSSL; it is never logged (the error names the file only).
      context = createSecureContext({
        ca, minVersion: 'TLSv1.2',
        ...(config.clientCertFile && config.clientKeyFile ? { cert: readPem(config.clientCertFile, 'siem.clientCertFile'), key: readPem(config.clientKeyFile, 'siem.clientKeyFile') } : {}),
      });
    } catch (error) {
      if (error instanceof ConfigurationError) throw error;
      throw new ConfigurationError(`siem.clientCertFile ${config.clientCertFile ?? ''} and siem.clientKeyFile ${config.clientKeyFile ?? ''} are not a certificate and its key`, { cause: error });
    }
    const hostname = config.hostname ?? (osHostname().replace(/[^!-~]/g, '').slice(0, 255) || '-');
    return new SyslogTlsSink(config, context, { facility: config.facility, hostname, procId, structuredDataId: config.structuredDataId });
  }

  deliver(records: readonly AuditRecord[]): Promise<void> {
    const batch = Buffer.concat(records.map((record) => octetCountedFrame(syslogMessage(record, this.#fields))));
    const expectedName = this.#config.serverName ?? this.#config.host;
    return new Promise<void>((resolve, reject) => {
      const socket = connect({
        host: this.#config.host, port: this.#config.port, secureContext: this.#context,
        // SNI takes names only; an address is still checked against the certificate's IP entries.
        ...(isIP(expectedName) ? {} : { servername: expectedName }),
        checkServerIdentity: (_host, cert) => checkServerIdentity(expectedName, cert),
      });
      let receiverClosed = false;
      let relayClosed = false;
      let settled = false;
      let closeAfterBatch: NodeJS.Timeout | undefined;
      const finish = (error?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(closeAfterBatch);
        this.#abandon = undefined;
        socket.destroy();
        if (error) reject(error);
        else resolve();
      };
      const timer = setTimeout(() => finish(new SiemDeliveryError(`the receiver did not take the batch within ${this.#config.timeoutMs} ms`)), this.#config.timeoutMs);
      timer.unref();
      this.#abandon = finish;
      // Once the batch is with the kernel, and the receiver has kept the connection open SETTLE_MS longer, the relay closes its side.
      socket.once('secureConnect', () => socket.write(batch, () => {
        if (settled) return;
        closeAfterBatch = setTimeout(() => {
          relayClosed = true;
          socket.end();
        }, SETTLE_MS);
        closeAfterBatch.unref();
      }));
      // Receivers send nothing; reading keeps the socket flowing, so that their close is seen.
      socket.resume();
      socket.once('end', () => {
        receiverClosed = true;
        if (!relayClosed) finish(new SiemDeliveryError('the receiver closed the connection on its own, before the batch was complete (does it accept this sender? its log says why)'));
      });
      socket.once('error', (error) => finish(error));
      socket.once('close', () => finish(receiverClosed && relayClosed && socket.writableFinished ? undefined : new SiemDeliveryError('the receiver closed the connection before it had read the batch')));
    });
  }

  close(): void {
    this.#abandon?.(new SiemDeliveryError('the relay is stopping'));
  }
}

function readPem(file: string, setting: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigurationError(`cannot read ${setting} ${file}: ${(error as Error).message}`);
  }
}
