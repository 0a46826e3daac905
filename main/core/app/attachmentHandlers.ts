import type { ATTACHMENT_COMMANDS } from '../../../shared/attachmentContract';
import { RoundsError } from '../errors';
import type { Handlers } from './commandHandlers';

/** The handlers of the attachment commands (shared/attachmentContract.ts). */
export type AttachmentHandlers = Pick<Handlers, keyof typeof ATTACHMENT_COMMANDS>;

const notYet = (): never => {
  throw new RoundsError('INTERNAL', 'attachments are not wired yet in this build');
};

/** Placeholder until the attachment pipeline lands (issue 20): every command answers INTERNAL. */
export function attachmentHandlers(): AttachmentHandlers {
  return {
    'attachments.policy': notYet,
    'attachments.stageBegin': notYet,
    'attachments.stageChunk': notYet,
    'attachments.stageFinish': notYet,
    'attachments.stageDiscard': notYet,
    'attachments.cancel': notYet,
    'attachments.retry': notYet,
    'attachments.fetch': notYet,
    'attachments.read': notYet,
    'attachments.save': notYet,
    'attachments.copyImage': notYet,
  };
}
