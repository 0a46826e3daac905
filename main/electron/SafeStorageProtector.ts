import { safeStorage } from 'electron';
import type { KeyProtector } from '../core/storage/KeyProtector';

/**
 * The core's KeyProtector on Electron's safeStorage: DPAPI on Windows, the Keychain on macOS, the
 * Secret Service (libsecret) or KWallet on Linux. Linux's "basic_text" fallback is a fixed password, not
 * protection, so there it reports itself unavailable and only the passphrase wraps the key.
 */
export class SafeStorageProtector implements KeyProtector {
  isAvailable(): boolean {
    if (!safeStorage.isEncryptionAvailable()) return false;
    return process.platform !== 'linux' || safeStorage.getSelectedStorageBackend() !== 'basic_text';
  }

  protect(secret: Uint8Array): Uint8Array {
    return safeStorage.encryptString(Buffer.from(secret).toString('base64'));
  }

  unprotect(protectedSecret: Uint8Array): Uint8Array {
    return Buffer.from(safeStorage.decryptString(Buffer.from(protectedSecret)), 'base64');
  }
}
