import { isIP } from 'node:net';

/* The addresses `serve` is given (--host, --trust-proxy, --metrics-host), checked without loading the relay. */

/**
 * An IPv4 or IPv6 address, or a CIDR range of them (`10.0.0.0/8`, `fd00::/8`): what --trust-proxy takes.
 * Not a range of everything (`/0`): that would let every client name its own address.
 */
export function isAddressOrRange(value: string): boolean {
  const [address = '', prefix, ...rest] = value.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) >= 1 && Number(prefix) <= (family === 4 ? 32 : 128));
}

/** Loopback addresses only: without TLS the relay serves this machine and nothing else. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1';
  return false;
}
