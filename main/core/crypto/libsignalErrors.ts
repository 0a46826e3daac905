import { ErrorCode, LibSignalErrorBase } from '@signalapp/libsignal-client';
import { addressKey, type DeviceAddress } from '../../../shared/ids';
import { DuplicateMessageError, InvalidMessageError, NoSenderKeyError, RoundsError } from '../errors';

/**
 * Sorts what libsignal throws while decrypting into our typed errors. Our own RoundsErrors (thrown by
 * our stores inside a libsignal call) pass through. Anything else is a programming error and is
 * rethrown unchanged so that it is noticed, not disguised as a bad message.
 */
export function toDecryptError(error: unknown, sender: DeviceAddress): unknown {
  if (error instanceof RoundsError) return error;
  const original = unwrapStoreError(error);
  if (original instanceof RoundsError) return original;
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

/** libsignal wraps an exception thrown by a store callback; find ours inside if it is there. */
function unwrapStoreError(error: unknown): unknown {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    if (current instanceof RoundsError) return current;
    current = current.cause;
  }
  return undefined;
}
