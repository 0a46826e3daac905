import './attachments.css';
import type { AttachmentView } from '../../../shared/attachmentContract';
import { assertNever } from '../../../shared/exhaustive';
import type { MessageId } from '../../../shared/ids';
import { formatBytes } from '../format';
import { attachmentProblem } from './attachmentProblems';
import { SharpPreview } from './SharpPreview';
import { Thumbnail, thumbnailBox } from './Thumbnail';
import { TransferProgress, type Transfer } from './TransferProgress';
import { isHere, liveAttachment, type LiveAttachment, type ProgressById } from './useAttachmentProgress';
import { typeLabel } from './attachmentKinds';
import { FileName } from './FileName';
import { displayFileName } from '../../../shared/fileNames';

/** A message in one line for a quote or a reply: its text, or what it carries when it has none. */
export function messageSummary(message: { body: string; attachments: readonly AttachmentView[] }, length: number): string {
  if (message.body) return message.body.slice(0, length);
  const n = message.attachments.length;
  const first = message.attachments[0];
  if (n === 1 && first) return first.kind === 'image' ? 'Photo' : first.fileName ?? typeLabel(first.contentType);
  return `${n} attachments`;
}

/** A photo's preview in the conversation fits a box this tall (CSS pixels). */
const PHOTO_SIZE = 220;

export interface AttachmentActions {
  open(attachment: LiveAttachment): void;
  cancel(attachment: AttachmentView): void;
  retry(attachment: AttachmentView): void;
}

/** What a tile says under the file's name, and whether it can be opened now. */
function tileState(a: LiveAttachment): { note: string | null; transfer: Transfer | null; openable: boolean; problem: boolean } {
  switch (a.state) {
    case 'uploading': return { note: null, transfer: { direction: 'upload', done: a.transferred, total: a.total, state: 'running' }, openable: true, problem: false };
    case 'uploadFailed': return { note: null, transfer: { direction: 'upload', done: a.transferred, total: a.total, state: a.error === 'ATTACHMENT_CANCELLED' ? 'cancelled' : 'failed', problem: attachmentProblem(a.error) }, openable: true, problem: false };
    case 'downloading': return { note: null, transfer: { direction: 'download', done: a.transferred, total: a.total, state: 'running' }, openable: false, problem: false };
    case 'downloadFailed': return { note: null, transfer: { direction: 'download', done: a.transferred, total: a.total, state: a.error === 'ATTACHMENT_CANCELLED' ? 'cancelled' : 'failed', problem: attachmentProblem(a.error) }, openable: false, problem: false };
    case 'remote': return { note: 'Not downloaded yet: open it to download', transfer: null, openable: true, problem: false };
    case 'uploaded': case 'stored': return { note: null, transfer: null, openable: true, problem: false };
    case 'refused': return { note: attachmentProblem('ATTACHMENT_TAMPERED'), transfer: null, openable: false, problem: true };
    case 'infected': return { note: attachmentProblem('ATTACHMENT_INFECTED'), transfer: null, openable: false, problem: true };
    case 'expired': return { note: attachmentProblem('ATTACHMENT_EXPIRED'), transfer: null, openable: false, problem: true };
    default: return assertNever(a.state, 'attachment state');
  }
}

/**
 * A message's photos and documents: photos as thumbnails, documents as cards with their type and size; each
 * opens in the viewer. While a file goes up or comes down its tile shows the progress with Cancel, and a
 * failed transfer its reason with Retry (it resumes).
 */
export function MessageAttachments({ messageId, attachments, progress, actions }: { messageId: MessageId; attachments: readonly AttachmentView[]; progress: ProgressById; actions: AttachmentActions }) {
  if (attachments.length === 0) return null;
  return (
    <ul className="attachments" aria-label={attachments.length === 1 ? 'Attachment' : `${attachments.length} attachments`}>
      {attachments.map((view) => {
        const a = liveAttachment(view, progress);
        const { note, transfer, openable, problem } = tileState(a);
        const name = displayFileName(view.fileName) ?? (view.kind === 'image' ? 'Photo' : view.kind === 'pdf' ? 'Document.pdf' : 'File');
        const facts = `${typeLabel(view.contentType)} · ${formatBytes(view.size)}`;
        const photo = view.kind === 'image' && view.thumbnail !== null;
        const verb = a.state === 'remote' ? 'Download and open' : 'Open';
        /** On this workstation (the sender's own from the start): a photo then shows sharp; before, its small thumbnail shows softened, as a placeholder. */
        const here = isHere(a.state);
        return (
          <li key={view.id} className={`attachment ${photo ? 'photo' : 'document'} ${problem ? 'problem' : ''} ${here ? '' : 'not-here'}`}>
            {/* A photo's button is named by its label; a document's by its visible text (the verb hidden before it). */}
            <button type="button" className="attachment-open" disabled={!openable} onClick={() => actions.open(a)}
              aria-label={photo ? `${verb} ${name} (${facts})` : undefined}>
              <Thumbnail thumbnail={view.thumbnail} contentType={view.contentType} size={photo ? PHOTO_SIZE : 40} width={view.width} height={view.height} />
              {photo && here && <SharpPreview messageId={messageId} attachmentId={view.id} size={view.size} {...thumbnailBox(PHOTO_SIZE, view.width, view.height)} />}
              {!photo && (
                <span className="attachment-text">
                  <span className="attachment-name"><span className="visually-hidden">{verb} </span><FileName name={name} /></span>
                  <span className="attachment-facts">{facts}</span>
                </span>
              )}
            </button>
            {photo && <span className="attachment-facts photo-facts"><FileName name={name} /> · {formatBytes(view.size)}</span>}
            {note && <p className={`attachment-note ${problem ? 'bad' : ''}`}>{note}</p>}
            {transfer && (
              <TransferProgress transfer={transfer} label={`${transfer.direction === 'upload' ? 'Sending' : 'Downloading'} ${name}`}
                // A cancelled upload's message is not sent (its blob withdrawn): nothing to retry; a cancelled download may go again.
                onCancel={() => actions.cancel(view)} {...(transfer.direction === 'upload' && transfer.state === 'cancelled' ? {} : { onRetry: () => actions.retry(view) })} />
            )}
          </li>
        );
      })}
    </ul>
  );
}
