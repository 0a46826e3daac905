import type { ATTACHMENT_COMMANDS } from '../../../shared/attachmentContract';
import type { Attachments } from '../attachments/Attachments';
import type { Handlers } from './commandHandlers';

/** The handlers of the attachment commands (shared/attachmentContract.ts). */
export type AttachmentHandlers = Pick<Handlers, keyof typeof ATTACHMENT_COMMANDS>;

/**
 * The attachment commands, on the open profile's attachments (RoundsApp#invoke has parsed every input).
 * Bytes cross as base64 chunks of at most 1 MiB either way; they are file contents: never logged.
 */
export function attachmentHandlers(attachments: () => Attachments): AttachmentHandlers {
  return {
    'attachments.policy': () => attachments().policyView(),
    'attachments.stageBegin': ({ fileName, size }) => attachments().beginStaging(size, fileName ?? null),
    'attachments.stageChunk': ({ stagingId, offset, data }) => ({ received: attachments().staging.chunk(stagingId, offset, Buffer.from(data, 'base64')) }),
    'attachments.stageFinish': ({ stagingId }) => attachments().finishStaging(stagingId),
    'attachments.stageDiscard': ({ stagingId }) => {
      attachments().staging.discard(stagingId);
      return {};
    },
    'attachments.cancel': ({ messageId, attachmentId }) => {
      attachments().cancel(messageId, attachmentId);
      return {};
    },
    'attachments.retry': ({ messageId, attachmentId }) => {
      attachments().retry(messageId, attachmentId);
      return {};
    },
    'attachments.fetch': ({ messageId, attachmentId }) => attachments().fetch(messageId, attachmentId),
    'attachments.read': async ({ messageId, attachmentId, variant, offset, length }) => {
      const { contentType, total, data } = await attachments().read(messageId, attachmentId, variant, offset, length);
      return { contentType, total, data: data.toString('base64') };
    },
    'attachments.save': async ({ messageId, attachmentId }) => ({ path: await attachments().save(messageId, attachmentId) }),
    'attachments.copyImage': async ({ messageId, attachmentId }) => {
      await attachments().copyImage(messageId, attachmentId);
      return {};
    },
  };
}
