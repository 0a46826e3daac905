import { typeLabel } from './attachmentKinds';
import { Icon } from './Icon';

/** The size a photo's preview takes: its proportions inside a size×size box (up to 1.5× as wide for landscape). */
export function thumbnailBox(size: number, width?: number | null, height?: number | null): { width: number; height: number } {
  const ratio = width && height ? width / height : 1;
  const w = ratio >= 1 ? size * Math.min(ratio, 1.5) : size * Math.max(ratio, 0.6);
  const h = ratio >= 1 ? w / ratio : size;
  return { width: Math.round(w), height: Math.round(Math.min(h, size)) };
}

/**
 * A small preview: the image's thumbnail (a JPEG from inside the end-to-end payload, shown as a data: URL, which
 * the app's CSP allows for images and nothing else), or a document icon with its type for anything else.
 */
export function Thumbnail({ thumbnail, contentType, size, width, height }: { thumbnail: string | null; contentType: string; size: number; width?: number | null; height?: number | null }) {
  if (thumbnail) {
    const box = thumbnailBox(size, width, height);
    return <img className="thumbnail" src={`data:image/jpeg;base64,${thumbnail}`} alt="" width={box.width} height={box.height} draggable={false} />;
  }
  const pdf = contentType === 'application/pdf';
  return (
    <span className={`file-icon ${pdf ? 'pdf' : ''}`} style={{ width: size, height: size }} aria-hidden="true">
      <Icon name="file" size={Math.round(size * 0.5)} />
      <span className="file-icon-type">{pdf ? 'PDF' : typeLabel(contentType).split(' ')[0]}</span>
    </span>
  );
}
