/** Byte/text conversions used by the protocol core. */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Decodes base64 that a schema has already validated. */
export function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const buf = Buffer.from(text, 'base64');
  const out = new Uint8Array(buf.byteLength);
  out.set(buf);
  return out;
}

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

export function utf8(text: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(text);
}

/** Throws TypeError on invalid UTF-8 instead of inventing replacement characters. */
export function fromUtf8(bytes: Uint8Array): string {
  return strictDecoder.decode(bytes);
}

export function jsonBytes(value: unknown): Uint8Array<ArrayBuffer> {
  return utf8(JSON.stringify(value));
}

/**
 * Parses UTF-8 JSON. A failure is reported without the parser's message, which quotes the input (and
 * the input may be message text or key material).
 */
export function parseJsonBytes(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(fromUtf8(bytes)) as unknown;
  } catch {
    throw new SyntaxError('invalid UTF-8 JSON');
  }
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}
