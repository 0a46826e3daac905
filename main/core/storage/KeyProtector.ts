import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Protection of a small secret by the operating system (Electron's safeStorage: DPAPI on Windows, the
 * Keychain on macOS, libsecret on Linux). The shell implements it; the core only calls it.
 */
export interface KeyProtector {
  /** False when the OS offers no protection here (then only the passphrase wraps the key). */
  isAvailable(): boolean;
  protect(secret: Uint8Array): Uint8Array;
  unprotect(protectedSecret: Uint8Array): Uint8Array;
}

/**
 * A real KeyProtector that keeps its key in process memory: AES-256-GCM under a random key that never
 * leaves this process. It stands in for the OS keychain in tests and headless runs; what it protects
 * cannot be recovered by another process, like safeStorage's output on another machine.
 */
export class InProcessKeyProtector implements KeyProtector {
  readonly #key: Buffer;

  /** `key` stands for one machine's OS key store (tests give two processes the same one); random by default. */
  constructor(key: Buffer = randomBytes(32)) {
    this.#key = Buffer.from(key);
  }

  isAvailable(): boolean {
    return true;
  }

  protect(secret: Uint8Array): Uint8Array {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce);
    const body = Buffer.concat([cipher.update(secret), cipher.final()]);
    return Buffer.concat([nonce, cipher.getAuthTag(), body]);
  }

  unprotect(protectedSecret: Uint8Array): Uint8Array {
    const data = Buffer.from(protectedSecret);
    const decipher = createDecipheriv('aes-256-gcm', this.#key, data.subarray(0, 12));
    decipher.setAuthTag(data.subarray(12, 28));
    return Buffer.concat([decipher.update(data.subarray(28)), decipher.final()]);
  }
}
