import { formatBytes } from '../format';
import { isPhoto, typeLabel } from './attachmentKinds';
import { displayFileName } from '../../../shared/fileNames';
import { FileName } from './FileName';
import { Icon } from './Icon';
import { Thumbnail } from './Thumbnail';
import { TransferProgress } from './TransferProgress';
import type { StagedFile, StagedFiles } from './useStagedFiles';

/** Whether a photo is among the staged files (then the note on location and camera data is shown). */
export function photosStaged(staging: Pick<StagedFiles, 'files'>): boolean {
  return staging.files.some((f) => isPhoto(f.staged?.contentType ?? f.guessedType));
}

/**
 * The files waiting under the message box: each with its thumbnail (once the core made it), name and size, a
 * progress bar while it is handed to the core, and Remove; above them, the note that photos lose their
 * location and camera data before they are sent.
 */
export function StagedAttachments({ files, onRemove, onRetry }: { files: readonly StagedFile[]; onRemove: (key: number) => void; onRetry: (key: number) => void }) {
  if (files.length === 0) return null;
  const photos = photosStaged({ files });
  return (
    <div className="staged">
      {photos && (
        <p className="privacy-note" id="privacy-note">
          <Icon name="shield" size={16} /> Location and camera data are removed from photos before sending.
        </p>
      )}
      <ul className="staged-list" aria-label="Attachments to send">
        {files.map((f) => {
          const type = f.staged?.contentType ?? f.guessedType;
          // The name as it will be sent (the core takes out direction overrides and other invisible characters too).
          const name = displayFileName(f.name) ?? 'File';
          return (
            <li key={f.key} className={`staged-item ${f.state}`}>
              <Thumbnail thumbnail={f.staged?.thumbnail ?? null} contentType={type} size={48} />
              <div className="staged-text">
                <span className="staged-name"><FileName name={name} /></span>
                <span className="staged-facts">
                  {typeLabel(type)} · {formatBytes(f.staged?.size ?? f.size)}
                  {f.staged?.metadataRemoved && <> · <span className="removed">location and camera data removed</span></>}
                </span>
                {f.state === 'staging' && <TransferProgress transfer={{ direction: 'upload', done: f.done, total: f.size, state: 'running' }} label={`Attaching ${name}`} verb="Attaching" onCancel={() => onRemove(f.key)} />}
                {f.state === 'failed' && (
                  <p className="staged-problem" role="alert">
                    Not attached: {f.problem} <button type="button" className="link small" onClick={() => onRetry(f.key)} aria-label={`Try attaching ${name} again`}>Try again</button>
                  </p>
                )}
              </div>
              <button type="button" className="ghost remove-staged" onClick={() => onRemove(f.key)} aria-label={`Remove ${name}`} title="Remove">
                <Icon name="close" size={16} />
              </button>
            </li>
          );
        })}
      </ul>
    </div>
  );
}
