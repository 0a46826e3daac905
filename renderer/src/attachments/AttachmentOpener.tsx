import { useEffect, useState } from 'react';
import type { AttachmentPolicyView } from '../../../shared/attachmentContract';
import { displayFileName } from '../../../shared/fileNames';
import type { MessageId } from '../../../shared/ids';
import type { Api } from '../api';
import { attachmentProblem } from './attachmentProblems';
import { AttachmentViewer } from './AttachmentViewer';
import type { LiveAttachment } from './useAttachmentProgress';
import { useAttachmentContent } from './useAttachmentContent';

/** The organisation's attachment policy (size limit, save and clipboard), read once per screen. */
export function useAttachmentPolicy(api: Api): AttachmentPolicyView | null {
  const [policy, setPolicy] = useState<AttachmentPolicyView | null>(null);
  useEffect(() => {
    let live = true;
    api.call('attachments.policy', {}).then((p) => live && setPolicy(p), () => undefined);
    return () => {
      live = false;
    };
  }, [api]);
  return policy;
}

/**
 * An attachment of a message in the viewer: its bytes fetched and read as needed (useAttachmentContent),
 * with "Save a copy" and "Copy image" only when the policy allows them (the core checks again, and audits).
 */
export function AttachmentOpener({ api, messageId, attachment, policy, onClose }: { api: Api; messageId: MessageId; attachment: LiveAttachment; policy: AttachmentPolicyView | null; onClose: () => void }) {
  const { content, contentType, retry } = useAttachmentContent(api, messageId, attachment);
  const [said, setSaid] = useState<string | null>(null);
  const { view } = attachment;
  const name = displayFileName(view.fileName) ?? (view.kind === 'pdf' ? 'Document.pdf' : view.kind === 'image' ? 'Photo' : 'File');
  const ids = { messageId, attachmentId: view.id };
  const ready = content.state === 'ready';
  const save = () => void api.call('attachments.save', ids).then((r) => setSaid(r.path ? 'Saved.' : null), (e: unknown) => setSaid(attachmentProblem(e)));
  const copy = () => void api.call('attachments.copyImage', ids).then(() => setSaid('Image copied.'), (e: unknown) => setSaid(attachmentProblem(e)));
  const tools = (
    <>
      {policy?.saveAllowed && <button type="button" className="viewer-text-tool" onClick={save} disabled={!ready}>Save a copy</button>}
      {policy?.clipboardAllowed && view.kind === 'image' && <button type="button" className="viewer-text-tool" onClick={copy} disabled={!ready}>Copy image</button>}
      {said && <span className="viewer-said" role="status">{said}</span>}
    </>
  );
  return (
    <AttachmentViewer file={{ name, contentType, size: content.state === 'ready' && content.bytes.length > 0 ? content.bytes.length : view.size }} content={content}
      onClose={onClose} onRetry={retry} extraTools={policy?.saveAllowed || policy?.clipboardAllowed ? tools : undefined} />
  );
}
