/** How the app shows a file of a given type: in the image viewer, in the PDF viewer, or not at all (a file tile). */
export type ViewerKind = 'image' | 'pdf' | 'none';

/** Image types Chromium decodes itself (HEIC/HEIF arrive converted by the core: see `displayType`). */
const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'image/bmp']);

export function viewerKind(contentType: string): ViewerKind {
  const type = contentType.toLowerCase().split(';')[0]?.trim() ?? '';
  if (type === 'application/pdf') return 'pdf';
  return IMAGE_TYPES.has(type) || type === 'image/heic' || type === 'image/heif' ? 'image' : 'none';
}

/** Whether a file the user picked is a photo whose location and camera data the core removes before sending. */
export function isPhoto(contentType: string): boolean {
  return /^image\/(jpeg|png|heic|heif)$/i.test(contentType);
}

/** A short word for the file's type, for tiles and the viewer's title ("PDF", "JPEG image", "File"). */
export function typeLabel(contentType: string): string {
  const type = contentType.toLowerCase();
  if (type === 'application/pdf') return 'PDF';
  const image = /^image\/([a-z0-9.+-]+)$/.exec(type)?.[1];
  if (image) return `${image === 'jpeg' ? 'JPEG' : image.toUpperCase()} image`;
  return 'File';
}
