import { typeLabel } from './attachmentKinds';
import { Icon } from './Icon';

/**
 * A small preview: the image's thumbnail (a JPEG from inside the end-to-end payload, shown as a data: URL, which
 * the app's CSP allows for images and nothing else), or a document icon with its type for anything else.
 */
export function Thumbnail({ thumbnail, contentType, size, width, height }: { thumbnail: string | null; contentType: string; size: number; width?: number | null; height?: number | null }) {
  if (thumbnail) {
    // Keep the photo's proportions inside a size×size box (×1.5 wide for landscape in the conversation).
    const ratio = width && height ? width / height : 1;
    const w = ratio >= 1 ? size * Math.min(ratio, 1.5) : size * Math.max(ratio, 0.6);
    const h = ratio >= 1 ? w / ratio : size;
    return <img className="thumbnail" src={`data:image/jpeg;base64,${thumbnail}`} alt="" width={Math.round(w)} height={Math.round(Math.min(h, size))} draggable={false} />;
  }
  const pdf = contentType === 'application/pdf';
  return (
    <span className={`file-icon ${pdf ? 'pdf' : ''}`} style={{ width: size, height: size }} aria-hidden="true">
      <Icon name="file" size={Math.round(size * 0.5)} />
      <span className="file-icon-type">{pdf ? 'PDF' : typeLabel(contentType).split(' ')[0]}</span>
    </span>
  );
}
