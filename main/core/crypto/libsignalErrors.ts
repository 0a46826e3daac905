import { ErrorCode, LibSignalErrorBase } from '@signalapp/libsignal-client';
import { addressKey, type DeviceAddress } from '../../../shared/ids';
import { DuplicateMessageError, InvalidMessageError, NoSenderKeyError, RoundsError } from '../errors';

/**
 * Sorts what libsignal throws while decrypting into our typed errors. A RoundsError one of our stores
 * threw inside the libsignal call (recorded by the operation, since libsignal replaces it with a generic
 * error) takes precedence. Anything else is a programming error and is
 * rethrown unchanged so that it is noticed, not disguised as a bad message.
 */
export function toDecryptError(error: unknown, sender: DeviceAddress, storeError?: RoundsError): unknown {
  if (error instanceof RoundsError) return error;
  if (storeError) return storeError;
  if (!(error instanceof LibSignalErrorBase)) return error;
  switch (error.code) {
    case ErrorCode.DuplicatedMessage:
      return new DuplicateMessageError(`already decrypted a message with this key from ${addressKey(sender)}`, { cause: error });
    case ErrorCode.InvalidSenderKeySession:
      return new NoSenderKeyError(`no sender key from ${addressKey(sender)} for this distribution`, { cause: error });
    default:
      return new InvalidMessageError(`${ErrorCode[error.code] ?? 'Generic'} in ${error.operation}`, { cause: error });
  }
}

