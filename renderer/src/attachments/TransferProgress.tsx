import { formatBytes } from '../format';
import { Icon } from './Icon';

/** An upload or download of one attachment, as the conversation shows it. */
export interface Transfer {
  readonly direction: 'upload' | 'download';
  readonly done: number;
  readonly total: number;
  /** `failed`: it stopped (network, relay); Retry resumes where it stopped. `cancelled`: the user stopped it. */
  readonly state: 'running' | 'failed' | 'cancelled';
  /** Why it failed, in plain words. */
  readonly problem?: string;
}

/**
 * A progress bar with what it is doing in words ("Sending… 1.2 MB of 3.4 MB"), a Cancel while it runs and a
 * Retry once it failed or was cancelled. `label` names the bar for a screen reader ("Sending wound.jpg").
 */
export function TransferProgress({ transfer, label, verb, onCancel, onRetry, dark }: { transfer: Transfer; label: string; verb?: string; onCancel?: () => void; onRetry?: () => void; dark?: boolean }) {
  const percent = transfer.total > 0 ? Math.min(100, Math.floor((transfer.done / transfer.total) * 100)) : 0;
  const doing = verb ?? (transfer.direction === 'upload' ? 'Sending' : 'Downloading');
  const stopped = transfer.state !== 'running';
  const status = transfer.state === 'failed' ? `${transfer.direction === 'upload' ? 'Not sent' : 'Not downloaded'}${transfer.problem ? `: ${transfer.problem}` : ''}`
    : transfer.state === 'cancelled' ? (transfer.direction === 'upload' ? 'Sending cancelled' : 'Download cancelled')
    : transfer.done === 0 ? `${doing}… (${formatBytes(transfer.total)})`
    : `${doing}… ${formatBytes(transfer.done)} of ${formatBytes(transfer.total)}`;
  return (
    <div className={`transfer ${transfer.state} ${dark ? 'dark' : ''}`}>
      <div className="transfer-bar" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent} aria-valuetext={status}>
        <div className="transfer-fill" style={{ width: `${percent}%` }} />
      </div>
      <div className="transfer-line">
        <span className="transfer-status" role={stopped ? 'status' : undefined}>{status}</span>
        {!stopped && onCancel && <button type="button" className="link small" onClick={onCancel} aria-label={`Cancel: ${label}`}>Cancel</button>}
        {stopped && onRetry && (
          <button type="button" className="link small retry" onClick={onRetry} aria-label={`Retry: ${label}`}><Icon name="retry" size={14} /> Retry</button>
        )}
      </div>
    </div>
  );
}
