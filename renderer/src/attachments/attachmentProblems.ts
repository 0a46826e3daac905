import { CallError } from '../api';
import { explain } from '../errors';
import { formatBytes } from '../format';

/**
 * What to tell a clinician about an attachment that could not be attached, sent, fetched or opened: by the
 * error code (never the raw message), in words that say what happened and what to do.
 */
export function attachmentProblem(error: unknown, maxBytes?: number): string {
  const code = error instanceof CallError ? error.error.code : typeof error === 'string' ? error : null;
  switch (code) {
    case 'ATTACHMENT_TOO_LARGE': return maxBytes ? `Larger than the ${formatBytes(maxBytes)} your organisation allows.` : 'Larger than your organisation allows.';
    case 'ATTACHMENT_TAMPERED': return 'The file did not pass Rounds’ integrity check, so it was not opened. Ask the sender to send it again.';
    case 'ATTACHMENT_EXPIRED': return 'No longer available: removed under your organisation’s retention policy.';
    case 'ATTACHMENT_CANCELLED': return 'Cancelled.';
    case 'ATTACHMENT_POLICY': return 'Your organisation’s policy does not allow this.';
    case 'ATTACHMENT_INFECTED': return 'The virus scan found a threat in this file. It cannot be opened or saved; tell IT.';
    case 'ATTACHMENT_SCAN_FAILED': return 'The virus scan could not run, so the file cannot be opened yet. Try again; tell IT if this lasts.';
    case 'ATTACHMENT_UNREADABLE': return 'This file is damaged or in a format Rounds cannot read.';
    case 'ATTACHMENT_STAGING': return 'The file could not be prepared. Attach it again.';
    case 'ATTACHMENT_SAVE_FAILED': return 'The file could not be saved there (the folder may be full, gone or read-only). Nothing was left behind; choose another folder.';
    case 'ATTACHMENT_MARK_FAILED': return 'The copy was deleted: your computer could not mark it as downloaded from the internet, which it needs to check the file before it opens. Tell IT.';
    case 'BAD_RESPONSE': return 'The Rounds server sent an answer Rounds could not accept, so the file was not downloaded. Try again; tell IT if this lasts.';
    case 'ATTACHMENT_NOT_STORED': return 'The file is not on this workstation yet. Download it first.';
    case 'BLOB_QUOTA_EXCEEDED': return 'You have reached the amount of files the server keeps for you. Older files are removed as they are delivered; try again later or tell IT.';
    case 'UNREACHABLE': case 'RELAY_UNAVAILABLE': return 'The Rounds server cannot be reached. Retry when the connection is back.';
    case null: return 'Something went wrong. Try again.';
    default: return error instanceof CallError ? explain(error) : `Something went wrong (${code}). Try again.`;
  }
}
