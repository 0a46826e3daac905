import { displayFileName, shortenFileName, splitExtension } from '../../../shared/fileNames';

/**
 * An attachment's name as it really is (shared/fileNames.ts: no direction overrides or other invisible characters,
 * which the core removed already; again here, whatever the source), isolated from the text around it, and shortened
 * before its extension to `maxChars`, so the real extension always shows at the end: "report.pdf….exe", never
 * "report.pdf…". The full name is its tooltip. Stem and extension are inline (block boxes would be read apart).
 */
export function FileName({ name, maxChars = 60 }: { name: string; maxChars?: number }) {
  const full = displayFileName(name) ?? name;
  const { stem, extension } = splitExtension(shortenFileName(full, maxChars));
  return (
    <bdi className="file-name" dir="ltr" title={full}>
      <span className="file-stem">{stem}</span>
      {extension && <span className="file-extension">.{extension}</span>}
    </bdi>
  );
}
