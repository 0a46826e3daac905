import { Fingerprint, type PublicKey, ScannableFingerprint } from '@signalapp/libsignal-client';
import { addressKey, type DeviceAddress } from '../../../shared/ids';
import { SafetyNumberMismatchError } from '../errors';
import { utf8 } from './encoding';

/** Signal's parameters for safety numbers (version 2 fingerprints, 5200 hash iterations). */
const ITERATIONS = 5200;
const VERSION = 2;

export interface SafetyNumber {
  /** 60 digits, the same on both devices; shown in 12 groups of 5. */
  readonly digits: string;
  readonly groups: readonly string[];
  /** Bytes for the QR code; the other device scans them and compares with compareScanned(). */
  readonly scannable: Uint8Array;
}

export interface IdentityOf {
  readonly address: DeviceAddress;
  readonly key: PublicKey;
}

export function computeSafetyNumber(local: IdentityOf, remote: IdentityOf): SafetyNumber {
  const fingerprint = fingerprintOf(local, remote);
  const digits = fingerprint.displayableFingerprint().toString();
  return {
    digits,
    groups: digits.match(/\d{5}/g) ?? [],
    scannable: fingerprint.scannableFingerprint().toBuffer(),
  };
}

/**
 * Compares what the camera read off the other device with our own fingerprint for the pair. Returns
 * false when the keys differ; throws SafetyNumberMismatchError when the scanned data is not a fingerprint
 * of a version we understand.
 */
export function compareScanned(local: IdentityOf, remote: IdentityOf, scanned: Uint8Array): boolean {
  const ours = fingerprintOf(local, remote).scannableFingerprint();
  try {
    const copy = new Uint8Array(scanned.byteLength);
    copy.set(scanned);
    return ours.compare(ScannableFingerprint._fromBuffer(copy));
  } catch (error) {
    throw new SafetyNumberMismatchError('the scanned code is not a Rounds safety number of this version', { cause: error });
  }
}

function fingerprintOf(local: IdentityOf, remote: IdentityOf): Fingerprint {
  return Fingerprint.new(ITERATIONS, VERSION, utf8(addressKey(local.address)), local.key, utf8(addressKey(remote.address)), remote.key);
}
